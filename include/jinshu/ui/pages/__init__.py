"""One module per governance page; each defines ``PAGE`` (:class:`jinshu.ui.registry.Page`)."""
