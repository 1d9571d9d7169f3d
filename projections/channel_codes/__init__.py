"""The ``channel_code`` read model: channel codes (渠道活码) and the friend adds through them
(:mod:`.view`), and the statements that read them (:mod:`.queries`)."""
