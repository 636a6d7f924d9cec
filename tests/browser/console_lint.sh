#!/usr/bin/env bash
# Static checks of the console's sources (ui/console): no markup parsing of strings
# (innerHTML, outerHTML, insertAdjacentHTML, document.write, DOMParser,
# createContextualFragment), no eval/new Function/string timers, no inline handlers,
# inline styles, inline scripts, javascript: URLs or external (CDN) URLs in the HTML, CSS
# or modules; only js/dom.js creates elements. Each pattern is first shown to catch a
# sample line, so a broken pattern cannot pass silently.
source "$(dirname "$0")/../lib.sh"
SRC=$ROOT/ui/console
echo "browser.console_lint: console sources"

# NAME|REGEX|SAMPLE (extended regex; SAMPLE must match it)
RULES=(
  'innerHTML/outerHTML|(inner|outer)HTML|el.innerHTML = name;'
  'insertAdjacentHTML|insertAdjacentHTML|el.insertAdjacentHTML("beforeend", s)'
  'document.write|document\.write(ln)?[[:space:]]*\(|document.write(s)'
  'markup parsers|DOMParser|createContextualFragment|parseFromString|new DOMParser()'
  'eval|(^|[^A-Za-z0-9_.])eval[[:space:]]*\(|x = eval(s)'
  'new Function|new[[:space:]]+Function[[:space:]]*\(|new Function("return 1")'
  "string timers|set(Timeout|Interval)[[:space:]]*\([[:space:]]*[\"'\`]|setTimeout(\"go()\", 1)"
  'inline event handlers|<[a-z][^>]*[[:space:]]on[a-z]+[[:space:]]*=|<button onclick="go()">'
  'style attributes|<[a-z][^>]*[[:space:]]style[[:space:]]*=|<div style="color: red">'
  'inline style blocks|<style|<style>p{}</style>'
  'inline scripts|<script([[:space:]][^>]*)?>[^<]|<script>alert(1)</script>'
  'scripts without src|<script([[:space:]]+(type|defer|async)(="[^"]*")?)*[[:space:]]*>|<script type="module">'
  "javascript: URLs|javascript:|<a href=\"javascript:go()\">"
  'external URLs|(https?:)?//[a-z0-9-]+\.[a-z0-9.-]+/|<script src="https://cdn.example.com/x.js">'
)
mapfile -t FILES < <(find "$SRC" -type f \( -name '*.html' -o -name '*.js' -o -name '*.css' \) | sort)
check "the console has an index.html, a stylesheet and modules" \
  test -f "$SRC/index.html" -a -f "$SRC/css/console.css" -a -f "$SRC/js/main.js"
for rule in "${RULES[@]}"; do
  name=${rule%%|*}; rest=${rule#*|}; re=${rest%|*}; sample=${rest##*|}
  if ! printf '%s\n' "$sample" | grep -Eq -- "$re"; then
    fail "the pattern for $name does not catch its sample: $sample"; continue
  fi
  # Comment lines (// ..., * ..., /* ...) may name what is forbidden; so may js/dom.js's
  # guard that refuses javascript: URLs.
  hits=$(grep -EnH -- "$re" "${FILES[@]}" | grep -Ev '^[^:]+:[0-9]+:[[:space:]]*(//|\*|/\*)' |
    grep -Ev '/js/dom\.js:[0-9]+:.*(/\^\\s\*javascript:/i|javascript: URLs are not allowed)' || true)
  if [ -z "$hits" ]; then pass "no $name"; else fail "$name found:"; echo "$hits" | sed 's/^/       /'; fi
done
other=$(grep -lE 'createElement\(' "${FILES[@]}" | grep -v '/js/dom\.js$' || true)
if [ -z "$other" ]; then pass "only js/dom.js creates elements"; else fail "createElement outside js/dom.js: $other"; fi
finish
