// Command neo4j-backup backs Neo4j up to S3-compatible object storage and
// restores it, as an admission webhook and backup reconciler in the cluster
// (serve) and by hand (list, upload, fetch, prune, restore). README.md,
// "Command reference", holds the --help of every command.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

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

// run runs the command line args and maps its error to an exit code:
// 0 success, 1 failure, 2 usage error. Errors are one line on stderr,
// "neo4j-backup COMMAND: what was wrong and what to do".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	if len(args) == 0 {
		// No command is a mistake too: the help, where errors go.
		root.SetOut(stderr)
		root.SetArgs([]string{"--help"})
		_ = root.ExecuteContext(ctx)
		return 2
	}
	cmd, err := execute(ctx, root, args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), oneLine(err))
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

// execute runs args on root; it returns the command they named and its
// error, every mistake in the command line a usageError.
func execute(ctx context.Context, root *cobra.Command, args []string) (*cobra.Command, error) {
	if cmd, _, err := root.Find(args); err == nil {
		if err := singleDashLongFlag(cmd, args); err != nil {
			return cmd, err
		}
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && cmd == root && !errors.As(err, new(usageError)) {
		// The root runs nothing itself and its flag errors are usage
		// errors already: this is cobra finding no such command.
		err = unknownCommand(root, args)
	}
	return cmd, err
}

// Command groups of the root's help.
const (
	groupS3   = "s3"
	groupKube = "kube"
)

// newRootCommand builds the command tree afresh for each run, so that
// nothing of one run (flag values, output) is seen by another.
func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "neo4j-backup",
		Short: "Back up Neo4j to S3-compatible storage and restore it on Kubernetes",
		Long: `neo4j-backup backs Neo4j up to S3-compatible object storage and restores it on
Kubernetes: in the cluster as an admission webhook and backup reconciler
(serve), and by hand.

S3 settings follow the AWS conventions: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL,
AWS_CA_BUNDLE, ~/.aws/credentials, IRSA web identity, instance metadata; the
flags --endpoint, --region, --ca-file and --insecure override them.

Exit status: 0 on success, 1 on a failure, 2 on a mistake in the command line.`,
		// run prints the one line an error gets, and no usage with it.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef("%v; run %s --help for the flags", err, cmd.CommandPath())
	})
	root.AddGroup(
		&cobra.Group{ID: groupS3, Title: "Backups in S3:"},
		&cobra.Group{ID: groupKube, Title: "On Kubernetes:"},
	)
	root.AddCommand(
		newListCommand(),
		newUploadCommand(),
		newFetchCommand(),
		newVerifyCommand(),
		newPruneCommand(),
		newRestoreCommand(),
		newStatusCommand(),
		newServeCommand(),
		newVersionCommand(),
		newRestoreStagedCommand(),
		newDrillCommand(),
		newBackupPlanCommand(),
	)
	asInvoked(root, os.Args[0])
	return root
}

// noArgs refuses positional arguments: every command takes flags only.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q; run %s --help for the flags", args[0], cmd.CommandPath())
	}
	return nil
}

// singleDashLongFlag refuses a long flag written with one dash, as the
// flag package of earlier versions took them: -namespace would otherwise be
// -n with the value "amespace".
func singleDashLongFlag(cmd *cobra.Command, args []string) error {
	for _, a := range args {
		if a == "--" {
			return nil
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if cmd.Flags().Lookup(name) != nil || name == "help" {
			return usagef("-%s: write it --%s (long flags take two dashes)", name, name)
		}
	}
	return nil
}

// unknownCommand names the first word of args that is no command, and the
// command meant if it is a typo of one.
func unknownCommand(root *cobra.Command, args []string) error {
	word := args[0]
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			word = a
			break
		}
	}
	if meant := root.SuggestionsFor(word); len(meant) > 0 {
		return usagef("unknown command %q (did you mean %s?); run %s --help for the list", word, strings.Join(meant, " or "), root.CommandPath())
	}
	return usagef("unknown command %q; run %s --help for the list", word, root.CommandPath())
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
