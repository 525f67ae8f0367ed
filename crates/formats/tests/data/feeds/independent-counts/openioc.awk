# Independent freetext tokenising for an XML IOC file: tokens split on [ \t,;<>], trimmed of
# quotes . , ( ) at both ends, plus the contents of "..." pairs on the line (when not already a
# token of the line); typed by shape for the types the file holds.
# Usage: awk -f openioc.awk tlds.txt FILE
FNR == NR { tld[$1] = 1; next }
function trim(s) { gsub(/^["'.,() ]+|["'.,() ]+$/, "", s); return s }
function classify(t,    n, l, parts, last, first) {
  if (t ~ /^[0-9a-fA-F]+$/ && length(t) == 40) return "sha1"
  if (t ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) return "ip-dst"
  if (t ~ /^[a-z0-9.]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/) return "email-src"
  if (t ~ /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/) {
    n = split(tolower(t), l, "."); if (tld[l[n]]) return (n > 2) ? "hostname" : "domain"
  }
  if (t ~ /^(https?:\/\/)?[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]+)?\/[^\\]*$/) return "url"
  if (t ~ /\\/) {
    n = split(t, parts, "\\"); last = parts[n]; first = parts[1]
    if (last !~ /\./ && first !~ /^.:/ && first != "" && t !~ /^[^\\]*\.[A-Za-z0-9]+$/) {
      # a dot before the backslashes makes MISP try a file name first; none of these has an
      # alphanumeric extension, so they fall through to the backslash rule
      return "regkey"
    }
  }
  return ""
}
{
  line = $0; ntok = 0; delete tok
  gsub(/[ \t,;<>]/, "\n", line)
  m = split(line, raw, "\n")
  for (i = 1; i <= m; i++) { t = trim(raw[i]); if (t != "") tok[++ntok] = t }
  rest = $0
  while (match(rest, /"[^"]*"/)) {
    inner = trim(substr(rest, RSTART + 1, RLENGTH - 2)); rest = substr(rest, RSTART + RLENGTH)
    if (inner == "") continue
    known = 0; for (k = 1; k <= ntok; k++) if (tok[k] == inner) known = 1
    if (!known) tok[++ntok] = inner
  }
  for (k = 1; k <= ntok; k++) {
    type = classify(tok[k]); if (type == "") continue
    value = (type == "domain" || type == "hostname" || type == "email-src") ? tolower(tok[k]) : tok[k]
    key = type SUBSEP value
    if (key in seen) dup++; else { seen[key] = 1; count[type]++ }
  }
}
END { for (t in count) printf "%s=%d ", t, count[t]; printf "dup=%d\n", dup }
