"""The documentation site's generated pages and build checks, run by the MkDocs hooks in
`sitegen.hooks` (named in mkdocs.yml): every reference page is made from the code at build time,
never copied by hand."""
