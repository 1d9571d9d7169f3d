"""Outbound work: the welcome-message pipeline and its wiring.

``FriendAdded`` (with a welcome code) → ``welcome_outbox`` row, written by a
projection together with its tracking position → the dispatcher enqueues the
row's key → the ``send_welcome`` actor calls the gateway outside any database
transaction → the outcome comes back as an event on the customer.

Modules: :mod:`workers.broker` (broker from a URL), :mod:`adapters.wecom_client`
(the WeCom-shaped API client), :mod:`workers.fake_wecom` (a local fake of it),
:mod:`workers.outbox` (the outbox table, its view and dispatcher),
:mod:`workers.welcome` (templates and the actor), :mod:`workers.main`
(one wiring point: ``build_pipeline`` / ``run_worker``).
"""
