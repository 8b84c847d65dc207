//go:build e2e

package main

// make e2e installs systemd: there, a missing systemd-analyze is a failure.
func init() { requireSystemdAnalyze = true }
