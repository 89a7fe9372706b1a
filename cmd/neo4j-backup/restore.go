package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/rollout"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// restoreOptions are restore's flags.
type restoreOptions struct {
	namespace          string
	deployment         string
	statefulSet        string
	at                 string
	databases          []string
	kubeconfig         string
	kubeContext        string
	timeout            time.Duration
	defaultDestination string
	s3                 *s3Flags
}

func newRestoreCommand() *cobra.Command {
	var o restoreOptions
	var databases string
	cmd := &cobra.Command{
		Use:   "restore -n NAMESPACE (--deployment NAME | --statefulset NAME) --at ID|TIME|latest",
		Short: "Restore a Neo4j deployment from a backup: scale to 0, annotate, scale back, wait",
		Long: `Restore a Neo4j deployment from a backup, as a whole: all the StatefulSets of
one Neo4j DBMS (--deployment; grouped as the backup CronJobs group them), or
one StatefulSet (--statefulset). First checks, with a server-side dry run of
the annotation, that the webhook will carry it into every pod template, and
that the backup exists, resolving latest or a time to one backup ID; then
scales every StatefulSet to 0 and waits until all their pods are gone,
annotates each with that backup ID, scales each back, and waits until every
pod has restored, reporting per pod as <statefulset>/<pod>. Ctrl-C stops it
and says where each StatefulSet was left and the commands to finish or undo.

It needs get on namespaces, list (for --deployment), get and patch on
statefulsets, patch on statefulsets/scale, list on pods, and S3 credentials
of its own.`,
		Example: `  # The newest backup, into every StatefulSet of Neo4j deployment my-cluster
  neo4j-backup restore -n shop --deployment my-cluster --at latest

  # The newest backup at or before a time, into StatefulSet graph alone, database neo4j only
  neo4j-backup restore -n shop --statefulset graph --at 2021-11-11T12:00:00Z --databases neo4j`,
		GroupID: groupKube,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(databases); err != nil {
				return err
			}
			return runRestore(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace of the Neo4j deployment (required)")
	fs.StringVar(&o.deployment, "deployment", "", "the Neo4j deployment to restore: all its StatefulSets together")
	fs.StringVar(&o.statefulSet, "statefulset", "", "instead of --deployment, the one StatefulSet to restore")
	fs.StringVar(&o.at, "at", "", `which backup: "latest", a backup ID, a time (the newest complete backup at or before it), or a legacy folder name (required)`)
	fs.StringVar(&databases, "databases", "", "comma list of the databases to restore (default every database in the backup)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "how long to wait in all for the pods to stop and then to restore")
	fs.StringVar(&o.defaultDestination, "default-destination", "", "the --default-destination neo4j-backup serve runs with, for a namespace without "+annotations.Destination)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, else ~/.kube/config)")
	_ = cmd.MarkFlagFilename("kubeconfig")
	fs.StringVar(&o.kubeContext, "context", "", "the kubeconfig context to use (default its current context)")
	o.s3 = addS3Flags(fs)
	fs.Lookup("endpoint").Usage = "S3 endpoint, as for the other commands (default the StatefulSets' or their Namespace's " + annotations.Endpoint + ", else $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS S3)"
	fs.Lookup("region").Usage = "S3 region (default the StatefulSets' or their Namespace's " + annotations.Region + ", else $AWS_REGION, else asked of the store)"
	return cmd
}

// complete checks the flags before any API or store is asked, and reads the
// database list.
func (o *restoreOptions) complete(databases string) error {
	switch {
	case o.namespace == "":
		return usagef("--namespace is required: the namespace of the Neo4j deployment")
	case o.deployment == "" && o.statefulSet == "":
		return usagef("--deployment or --statefulset is required: the Neo4j deployment to restore, or the one StatefulSet")
	case o.deployment != "" && o.statefulSet != "":
		return usagef("--deployment and --statefulset: give one; --deployment restores all the StatefulSets of a Neo4j deployment together")
	case o.at == "":
		return usagef(`--at is required: "latest", a backup ID or a time such as 2021-11-11T10:00:00Z`)
	case o.timeout <= 0:
		return usagef("--timeout %s: give a positive duration such as 30m", o.timeout)
	}
	if err := storage.CheckRestorePoint(o.at); err != nil {
		return usagef("--at: %v", err)
	}
	if databases != "" {
		if problems := annotations.ValidateStatefulSet(map[string]string{annotations.RestoreDatabases: databases}); len(problems) > 0 {
			return usagef("--databases: %s", strings.TrimPrefix(problems[0], annotations.RestoreDatabases+": "))
		}
		o.databases = annotations.SplitList(databases)
	}
	if o.defaultDestination != "" {
		if _, err := storage.ParseLocation(o.defaultDestination); err != nil {
			return usagef("--default-destination: %v", err)
		}
	}
	return nil
}

func runRestore(ctx context.Context, o restoreOptions, stdout, stderr io.Writer) error {
	kube, err := kubeClient(o.kubeconfig, o.kubeContext)
	if err != nil {
		return err
	}

	// Before anything changes: every StatefulSet must take the annotation
	// and the backup must be there.
	var d *rollout.Deployment
	if o.deployment != "" {
		d, err = rollout.LoadDeployment(ctx, kube, o.namespace, o.deployment)
	} else {
		d, err = rollout.LoadStatefulSet(ctx, kube, o.namespace, o.statefulSet)
	}
	if err != nil {
		return interruptedOr(ctx, err)
	}
	if o.deployment != "" {
		fmt.Fprintln(stderr, d)
	}
	settings, err := d.Settings(ctx, o.at, o.databases, o.defaultDestination)
	if err != nil {
		return interruptedOr(ctx, err)
	}
	b, err := findBackup(ctx, o, settings)
	if err != nil {
		return interruptedOr(ctx, err)
	}
	fmt.Fprintln(stderr, describeBackup(b, o.at, settings.From.String()))

	// The pods get the backup's ID, not what --at said: a backup landing
	// meanwhile must not make the members of a cluster restore different
	// backups, nor a pod restarted next week restore a newer one. A time
	// inside a chain stays that time: newer backups cannot change what it
	// resolves to.
	at := b.ID
	if !b.RestoreUntil.IsZero() {
		at = b.RestoreUntil.UTC().Format(time.RFC3339Nano)
	}
	_, err = d.Run(ctx, at, o.databases, rollout.Options{Timeout: o.timeout, Progress: stderr, Report: stdout})
	return err
}

// findBackup resolves --at where the deployment's backups are, with the
// caller's credentials; the endpoint and region flags win over the
// annotations.
func findBackup(ctx context.Context, o restoreOptions, settings annotations.RestoreSettings) (storage.Backup, error) {
	s3 := *o.s3
	s3.endpoint = cmp.Or(s3.endpoint, settings.Endpoint)
	s3.region = cmp.Or(s3.region, settings.Region)
	store, err := s3.open("from", settings.From.String())
	if err != nil {
		return storage.Backup{}, err
	}
	b, err := store.Resolve(ctx, o.at)
	if err != nil {
		return storage.Backup{}, err
	}
	for _, db := range o.databases {
		if len(b.Databases) > 0 && !slices.Contains(b.Databases, db) {
			return storage.Backup{}, fmt.Errorf("backup %s has no database %s; it has %s", b.ID, db, strings.Join(b.Databases, ", "))
		}
	}
	return b, nil
}

func describeBackup(b storage.Backup, at, from string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "backup %s", b.ID)
	if at != b.ID {
		fmt.Fprintf(&s, " (%s)", at)
	}
	fmt.Fprintf(&s, " in %s", from)
	if b.Status == storage.Legacy {
		s.WriteString(": a legacy backup without a manifest, so its files are restored unverified")
		return s.String()
	}
	databases := strings.Join(b.Databases, ", ")
	if databases == "" {
		databases = "databases not listed"
	}
	fmt.Fprintf(&s, ": %s, %s", databases, size(b.Size))
	if len(b.Chain) > 1 {
		fmt.Fprintf(&s, "; with the %d backups it builds on, from full backup %s", len(b.Chain)-1, b.Chain[0])
	}
	if !b.RestoreUntil.IsZero() {
		fmt.Fprintf(&s, "; restored up to %s", b.RestoreUntil.UTC().Format(time.RFC3339))
	}
	return s.String()
}

// interruptedOr says so when err came from Ctrl-C before anything changed.
func interruptedOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.New("interrupted: nothing was changed")
	}
	return err
}

// kubeClient talks to the cluster of --kubeconfig, else of $KUBECONFIG or
// ~/.kube/config, in --context, else the current context, as kubectl does.
func kubeClient(kubeconfig, kubeContext string) (kubernetes.Interface, error) {
	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	loading.ExplicitPath = kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no Kubernetes API to talk to: %v; pass --kubeconfig or set KUBECONFIG", err)
	}
	return kubernetes.NewForConfig(config)
}
