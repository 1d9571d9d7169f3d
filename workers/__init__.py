"""Outbound work and jobs: the Dramatiq actors, their outboxes and dispatchers, the clock.

Every outbound message follows one shape: a decision recorded in the event log → an
outbox row (or a due step) written by a projection with its tracking position → a
dispatcher enqueues ids → an idempotent actor calls a client from :mod:`adapters`
outside any database transaction → the outcome comes back as an event.

Modules: :mod:`workers.welcome` and :mod:`workers.outbox` (welcome messages),
:mod:`workers.campaigns`, :mod:`workers.campaign_store`, :mod:`workers.campaign_sending`
and :mod:`workers.confirmation_tasks` (campaigns: dispatch, the worker's tables, the
send actor, WeCom mass-send confirmation tasks), :mod:`workers.sops` (SOP steps), :mod:`workers.alerts`
(staff alerts), :mod:`workers.daily_report` (daily reports), :mod:`workers.auto_tag`
(auto-tag rules), :mod:`workers.clock` (time-slot ticks), :mod:`workers.polling` (the
dispatchers' loop), :mod:`workers.broker` (the broker from a URL), :mod:`workers.features` (what each
capability adds to a worker process: actors and loops), :mod:`workers.options` and
:mod:`workers.process` (one worker process). The process is wired from settings in
:mod:`siyu.worker_process`; the local fakes of WeCom and Tencent SMS are in :mod:`fakes`.
"""
