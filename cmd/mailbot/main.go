// Command mailbot runs an organisation's security@ mailbox: see README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"mailbot/mailbot/cli"
)

// stopGrace is how long the first SIGTERM lets the work in hand finish
// before it is aborted (every network wait ends with the abort): well
// within systemd's TimeoutStopSec=90s, and shorter than smtp.timeout and
// imap.command_timeout, which bound one wait each.
const stopGrace = 20 * time.Second

func main() {
	// The first SIGTERM or SIGINT stops taking new work; a second, or
	// stopGrace later, aborts.
	stop, stopNow := context.WithCancel(context.Background())
	abort, abortNow := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		stopNow()
		select {
		case <-sigs:
		case <-time.After(stopGrace):
		}
		abortNow()
	}()
	// SIGHUP reloads config, policy, templates and keys (`mailbot run`).
	hups := make(chan os.Signal, 1)
	reload := make(chan struct{}, 1)
	signal.Notify(hups, syscall.SIGHUP)
	go func() {
		for range hups {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	os.Exit(cli.Run(stop, os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Abort: abort, Reload: reload}))
}
