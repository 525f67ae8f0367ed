# Independent typing of Infoblox CSV rows (type,indicator,...): refang "[.]", trim spaces, type
# by shape. Usage: sed "1s/^\xef\xbb\xbf//" FILE | awk -f infoblox.awk tlds.txt -
FNR == NR { tld[$1] = 1; next }
FNR == 1 { next }
{
  split($0, f, ","); v = f[2]; gsub(/\[\.\]/, ".", v); gsub(/^ +| +$/, "", v); type = ""
  if (v ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) type = "ip-dst"
  else if (v ~ /^[0-9a-f]+$/ && length(v) == 64) type = "sha256"
  else if (v ~ /\//) type = "url"
  else if (v ~ /^[a-z0-9-]+(\.[a-z0-9-]+)+$/) { n = split(tolower(v), l, "."); if (tld[l[n]]) type = (n > 2) ? "hostname" : "domain" }
  if (type == "") { ignored++; next }
  key = type SUBSEP tolower(v)
  if (key in seen) dup++; else { seen[key] = 1; count[type]++ }
}
END { for (t in count) printf "%s=%d ", t, count[t]; printf "dup=%d ignored=%d\n", dup, ignored }
