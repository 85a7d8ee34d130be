-- Pandoc filter for the HTML book: a link to a page (X.md) goes to its HTML (X.html), the
-- contents (README.md) to index.html, and a stored diff (diffs/X.diff) to its side-by-side page.
function Link(link)
  local target = link.target
  if target:match("^%a+:") then
    return link -- https:, mailto: ...
  end
  target = target:gsub("^README%.md", "index.html")
  target = target:gsub("^([%w%-_/]*)%.md(#?)", "%1.html%2")
  target = target:gsub("^diffs/([%w%-_]+)%.diff", "diffs/%1.html")
  link.target = target
  return link
end
