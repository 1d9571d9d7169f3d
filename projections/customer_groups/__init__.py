"""The ``customer_group`` read model: the directory of WeCom customer groups (客户群) and the
customers known in each (:mod:`.view`), and the statements that read it (:mod:`.queries`)."""
