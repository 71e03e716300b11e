// Package web is byoi's web UI, served by `byoi serve` under /ui/: the
// fleet (every machine with its state, power, last boot, current step and
// progress, address), one machine (events timeline, task history, live
// installer progress), tasks across machines, and actions (deploy,
// cancel, and power actions when the server has power control), each
// confirmed on a page of its own. Pages are Go html/template and embedded
// static files; a small hand-written script follows server-sent events to
// update them live. There is no JavaScript build.
//
// An operator logs in with a byoi API token; the UI keeps a session
// (cookie HttpOnly, SameSite=Strict, Secure under TLS), checks the token
// again on every request (a revoked token ends its sessions), and every
// action carries the session's CSRF token.
//
//	ui, err := web.New(web.Config{Auth: check}, st, lc)
//	mux.Handle("/ui/", ui)
//
// Summarize and Summary are shared with the native API's machine list.
package web
