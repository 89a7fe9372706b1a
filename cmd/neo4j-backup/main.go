// Command neo4j-backup backs Neo4j up to S3-compatible object storage and
// restores it, as an admission webhook and backup reconciler in the cluster
// (serve) and by hand (list, upload, fetch, prune, restore).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand: its one-line summary and what it runs.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	hidden  bool // run by containers this binary injects, not typed by people
}

// commands is filled by each command's file in its init function.
var commands = map[string]command{}

// usageError is a mistake in how the command was called: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and maps its error to an exit code:
// 0 success, 1 failure, 2 usage error. Errors are one line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "neo4j-backup: unknown command %q; run neo4j-backup --help for the list\n", args[0])
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "neo4j-backup %s: %s\n", args[0], oneLine(err))
		return 2
	default:
		fmt.Fprintf(stderr, "neo4j-backup %s: %s\n", args[0], oneLine(err))
		return 1
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "neo4j-backup: back up Neo4j to S3-compatible storage and restore it on Kubernetes")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for name, c := range commands {
		if !c.hidden {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun neo4j-backup COMMAND --help for its flags.")
}

// newFlags returns a flag set for a subcommand that reports instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("neo4j-backup "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and turns a bad flag into a usage error and
// positional leftovers into one too.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.Usage()
			return err
		}
		return usagef("%v; run %s --help for the flags", err, fs.Name())
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; run %s --help for the flags", fs.Arg(0), fs.Name())
	}
	return nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
