"""Claude Code hooks shipped with qms (`qms hook write-guard`)."""
