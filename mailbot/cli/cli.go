// Package cli is the mailbot command line: it parses each subcommand's
// flags and runs it. cmd/mailbot only wires signals and os.Exit to Run, so
// every command is testable in process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// Exit codes. 75 is EX_TEMPFAIL from sysexits.h: an MTA retries later.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2 // also: `mailbot check` found problems
	ExitTempFail = 75
	// ExitDataErr is sysexits' EX_DATAERR: `mailbot ingest` was handed a
	// message that can never be accepted (over the size limit).
	ExitDataErr = 65
)

// Env is what a command may use of the outside world.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Abort is done when the command must stop at once (second signal).
	Abort context.Context
	// Getenv reads the environment (tests replace it).
	Getenv func(string) string
	// Reload receives a value for each SIGHUP (`mailbot run` reloads).
	Reload <-chan struct{}
}

type command struct {
	name, args, help string
	run              func(ctx context.Context, env *Env, args []string) int
}

var commands []command

// fileOnStdout are the commands whose stdout is a file's content (a policy
// page, security.txt), written as is.
var fileOnStdout = map[string]bool{"publish": true}

func register(c command) { commands = append(commands, c) }

// Run runs the mailbot command line with args (without the program name)
// and returns the process exit code. ctx is done when the command should
// stop taking new work (SIGTERM); env.Abort when it must stop now.
func Run(ctx context.Context, args []string, env *Env) int {
	if env.Abort == nil {
		env.Abort = context.Background()
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	// Every human-readable output goes through printableWriter.
	stdout, stderr := newPrintableWriter(env.Stdout), newPrintableWriter(env.Stderr)
	defer stdout.Flush()
	defer stderr.Flush()
	human := *env
	human.Stdout, human.Stderr = stdout, stderr
	if len(args) > 0 && fileOnStdout[args[0]] {
		human.Stdout = env.Stdout
	}
	env = &human
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "mailbot: unknown command %q\n", args[0])
	usage(env.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mailbot <command> [flags]\n\ncommands:")
	sorted := append([]command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-10s %-28s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w, "\nRun 'mailbot <command> -h' for the flags of a command.")
}

// flags makes a FlagSet for a command that prints its errors to env.Stderr.
func flags(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("mailbot "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// parse parses args; a usage error returns ok false with the exit code.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	return 0, true
}

// fail prints err for command name and returns code.
func fail(env *Env, name string, code int, err error) int {
	fmt.Fprintf(env.Stderr, "mailbot %s: %v\n", name, err)
	return code
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
