"""Values that break naive quoting, each with an id; every renderer must carry them or refuse."""

# Each one breaks a quoting shortcut some renderer could take: shell expansion, quote
# and line-ending handling, escapes, globbing, non-ASCII text, values that look like options
# (and, as in virtualenv's `special_char_name` fixture, characters that break paths).
# CANARY is a file that must never appear in the shell's working folder: a value that gets
# executed instead of carried creates it.
HOSTILE = [
    ("command-substitution", "$(touch CANARY)"),
    ("backticks", "`touch CANARY`"),
    ("arithmetic", "$((1+1))"),
    ("chained", "x; touch CANARY && touch CANARY || touch CANARY"),
    ("redirect", "x > CANARY"),
    ("apostrophe", "it's"),
    ("double-quotes", 'say "hi"'),
    ("windows-path", "C:\\new\\t"),
    ("lf", "line1\nline2"),
    ("crlf", "a\r\nb\r\n"),
    ("lone-cr", "a\rb"),
    ("tab", "a\tb"),
    ("history", "!!x!$"),
    ("printf", "100%s%n"),
    ("non-ascii", "é☃𝄞"),
    ("curly-apostrophe", "Bob’s"),
    ("all-curly-quotes", "‘’‚‛"),
    ("empty", ""),
    ("dash-n", "-n"),
    ("dash-e", "-e"),
    ("double-dash-help", "--help"),
    ("equals", "a=b=c"),
    ("brace-expansion-var", "${HOME}"),
    ("quoted-ifs", "'${IFS}'"),
    ("trailing-newline", "x\n"),
    ("only-newline", "\n"),
    ("trailing-backslash", "x\\"),
    ("only-backslashes", "\\\\"),
    ("only-quotes", "'\"'\"''"),
    ("rc-quotes", "a''b"),
    ("escaped-quote", "\\'"),
    ("glob", "*?[a-z]"),
    ("tilde", "~/x"),
    ("comment", " # not a comment"),
    ("leading-trailing-spaces", "  padded  "),
    ("heredoc-like", "EOF\nghadelimiter_0\nEOF"),
    ("dotenv-export", "export X=1"),
    ("virtualenv-special", "'\";&&e-$ èрт🚒♞中片-j`"),
    ("colons", "::a::"),
]
