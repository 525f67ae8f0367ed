# Independent classification of maltrail trail lines (one entry per line, "# ..." comments).
# Usage: awk -f maltrail.awk tlds.txt FILE
FNR == NR { tld[$1] = 1; next }
/^[ \t]*#/ || /^[ \t]*$/ { next }
{
  entry = $1; type = ""; value = entry
  if (entry ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:[0-9][0-9]+$/) { split(entry, a, ":"); type = "ip-dst|port"; value = a[1] "|" a[2] }
  else if (entry ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) { type = "ip-dst" }
  else if (entry ~ /^[0-9a-fA-F:]+$/ && entry ~ /::/) { type = "ip-dst" }
  else if (entry ~ /^https?:\/\//) { type = "url" }
  else if (entry ~ /^\//) { n = split(entry, p, "."); ext = p[n]; if (n > 1 && ext ~ /^[A-Za-z0-9]+$/ && ext !~ /^[0-9]+$/) type = "filename" }
  else if (entry ~ /\//) { type = "url" }
  else if (entry ~ /\./) {
    n = split(tolower(entry), l, ".")
    if (tld[l[n]]) { type = (n > 2) ? "hostname" : "domain"; value = tolower(entry) }
    else if (l[n] ~ /^[a-z0-9]+$/ && l[n] !~ /^[0-9]+$/) type = "filename"
  }
  if (type == "") { ignored++; next }
  key = type SUBSEP value
  if (key in seen) { dup++; next }
  seen[key] = 1; count[type]++
}
END { for (t in count) printf "%s=%d ", t, count[t]; printf "dup=%d ignored=%d\n", dup, ignored }
