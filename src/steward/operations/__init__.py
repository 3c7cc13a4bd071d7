"""Operations: the six metrics and their rollups, feedback and quality review, alerts, and
kill switches (issue #19)."""
