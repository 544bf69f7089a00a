// Package ui is the web dashboard every node serves at /ui/: jobs, a
// job's progress, task timeline, counters, errors and module logs, the
// nodes and the datasets. It is static files embedded in the binary (no
// framework fetched at run time); the page reads the node's own JSON API
// with the user's token, so it shows exactly what that token may see, and
// polls it for live updates.
package ui
