// Command mailbot runs an organisation's security@ mailbox: see README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"mailbot/mailbot/cli"
)

func main() {
	// The first SIGTERM or SIGINT stops taking new work; a second aborts.
	stop, stopNow := context.WithCancel(context.Background())
	abort, abortNow := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		stopNow()
		<-sigs
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
