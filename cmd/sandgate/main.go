// Command sandgate is the data gateway for sandboxed prototypes: one binary,
// subcommands. This package only parses flags and configuration, wires the
// packages together and handles signals.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand.
type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	summary string
}

func commands() map[string]command {
	return map[string]command{
		"serve":        {serveCmd, "run the gateway (PostgreSQL wire on :6432)"},
		"demo":         {demoCmd, "start a throwaway PostgreSQL and the gateway, and show a psql session"},
		"passwd":       {passwdCmd, "print a SCRAM-SHA-256 verifier for a sandbox password"},
		"check-config": {checkConfigCmd, "check a gateway configuration and its policy files"},
		"keys":         {keysCmd, "manage the encrypted Tink keyset: init, rotate, info, reveal"},
		"synth":        {synthCmd, "generate or load synthetic patient data: gen, load, ddl"},
		"policy":       {policyCmd, "check policy files, or explain what a statement would do"},
		"audit":        {auditCmd, "verify, query or create keys for the tamper-evident audit log"},
		"report":       {reportCmd, "the evidence pack for a sandbox: md, html or json"},
	}
}

// usageError is a mistake in how the command was called.
type usageError struct{ msg, try string }

func (e *usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "Error: unknown command %q\nTry: sandgate help\n", args[0])
		return 2
	}
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "Error: %s\nTry: %s\n", ue.msg, ue.try)
			return 2
		}
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "sandgate: the data gateway for sandboxed prototypes\n\nUsage: sandgate <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'sandgate <command> -h' for a command's flags.")
}
