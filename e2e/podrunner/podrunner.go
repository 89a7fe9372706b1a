// Package podrunner plays the kubelet for the end-to-end tests and the demo,
// where no container runtime exists: given a pod spec from the real API (a
// Job's pod template, or a pod the webhook injected), it runs the containers
// in order as local processes, each in its own mount namespace with the
// pod's volumes bind-mounted at their mount paths, so the programs see the
// same paths they would in the pod. This image's containers run the
// neo4j-backup binary under test; a Neo4j image's run with the stand-in
// neo4j-admin first on PATH. Anything it cannot map faithfully (another
// image, a volume type it does not know, an env source it cannot resolve)
// makes it fail rather than guess.
package podrunner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// Runner runs pods of one namespace's objects.
type Runner struct {
	Kube kubernetes.Interface
	// Image is this project's image, run as Binary.
	Image  string
	Binary string
	// StandinDir holds the stand-in neo4j-admin; Neo4j images run with it
	// first on PATH, NEO4J_STANDIN_VERSION set from the image tag, and
	// StandinEnv added.
	StandinDir string
	StandinEnv []string
	// Claims maps a PersistentVolumeClaim name to the folder standing for
	// it; it outlives the pod, as a claim does. Other volumes (emptyDir,
	// generic ephemeral; configMap, secret, projected and downwardAPI with
	// their files, read through Kube) get a fresh folder per pod.
	Claims map[string]string
	// Env is added to every container: the S3 CA file and the like that a
	// real node would provide through its image.
	Env []string
	// Log receives every container's output.
	Log io.Writer
	// Timeout bounds each container; default two minutes.
	Timeout time.Duration
	// ReportStatus writes how the containers ended (exit codes, termination
	// messages) and, for restartPolicy Never, the pod's final phase into its
	// status in the API, as the kubelet does, for code that watches pods:
	// the job controller finishes a Job on it.
	ReportStatus bool
}

// Result is how one container ended.
type Result struct {
	Name     string
	ExitCode int
	// Message is the container's termination message, as the kubelet makes
	// it: what the container wrote to the file at its
	// terminationMessagePath (at most 4 KiB); with terminationMessagePolicy
	// FallbackToLogsOnError, when it wrote nothing there and failed, the
	// end of its output (the last 80 lines, at most 2 KiB).
	Message string
}

// The kubelet's limits on termination messages.
const (
	messageMax      = 4096
	logMessageMax   = 2048
	logMessageLines = 80
)

// Run runs the pod's init containers in order and, unless initOnly, then its
// containers in order, stopping at the first that fails, as the kubelet does
// with restartPolicy Never. A container that fails is reported in the
// results, not as an error; the error is for what could not be run at all.
func (r *Runner) Run(ctx context.Context, meta metav1.ObjectMeta, spec *corev1.PodSpec, initOnly bool) ([]Result, error) {
	scratch, err := os.MkdirTemp("", "podrunner-"+meta.Name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	volumes, err := r.volumes(ctx, meta, spec, scratch)
	if err != nil {
		return nil, err
	}
	containers := append([]corev1.Container(nil), spec.InitContainers...)
	if !initOnly {
		containers = append(containers, spec.Containers...)
	}
	var results []Result
	for i := range containers {
		res, err := r.runContainer(ctx, meta, &containers[i], volumes, scratch)
		if err != nil {
			return results, fmt.Errorf("container %s: %w", containers[i].Name, err)
		}
		results = append(results, res)
		if res.ExitCode != 0 {
			break
		}
	}
	if r.ReportStatus {
		if err := r.reportStatus(ctx, meta, spec, results, !initOnly && len(results) == len(containers)); err != nil {
			return results, fmt.Errorf("reporting the status of pod %s: %w", meta.Name, err)
		}
	}
	return results, nil
}

// reportStatus writes the results into the pod's status: each container
// that ran as terminated with its exit code and message, the others as
// waiting, as the kubelet shows them; and, with restartPolicy Never, the
// pod's phase once it is over: Failed when a container failed, Succeeded
// when all ran (allRan) and succeeded. A pod deleted meanwhile is left
// alone.
func (r *Runner) reportStatus(ctx context.Context, meta metav1.ObjectMeta, spec *corev1.PodSpec, results []Result, allRan bool) error {
	ended := map[string]Result{}
	var phase corev1.PodPhase
	for _, res := range results {
		ended[res.Name] = res
		if res.ExitCode != 0 {
			phase = corev1.PodFailed
		}
	}
	if phase == "" && allRan {
		phase = corev1.PodSucceeded
	}
	if spec.RestartPolicy != corev1.RestartPolicyNever {
		phase = "" // the kubelet would restart it
	}
	now := metav1.Now()
	statuses := func(containers []corev1.Container) []corev1.ContainerStatus {
		var out []corev1.ContainerStatus
		for _, c := range containers {
			st := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
			res, ran := ended[c.Name]
			switch {
			case ran:
				reason := "Completed"
				if res.ExitCode != 0 {
					reason = "Error"
				}
				st.State.Terminated = &corev1.ContainerStateTerminated{
					ExitCode: int32(res.ExitCode), Reason: reason, Message: res.Message, StartedAt: now, FinishedAt: now,
				}
			default:
				st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
			}
			out = append(out, st)
		}
		return out
	}
	pods := r.Kube.CoreV1().Pods(meta.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := pods.Get(ctx, meta.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && meta.UID != "" && pod.UID != meta.UID) {
			return nil // deleted while it ran: there is no status to report
		}
		if err != nil {
			return err
		}
		pod.Status.InitContainerStatuses = statuses(spec.InitContainers)
		pod.Status.ContainerStatuses = statuses(spec.Containers)
		if phase != "" {
			pod.Status.Phase = phase
		}
		_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
}

// volume is the host folder standing for one of the pod's volumes.
type volume struct {
	dir string
	// readOnly: a claim's readOnly; and the kubelet mounts the API's data
	// (configMap, secret, projected, downwardAPI volumes) read-only,
	// whatever the mount says.
	readOnly bool
}

// volumes maps each volume name to a host folder, materialising the files
// of configMap, secret, projected and downwardAPI volumes as the kubelet
// does: a ConfigMap's or Secret's keys as files (or only its items, each at
// its path), a missing one an error unless optional. Modes are not set:
// every file is 0644.
func (r *Runner) volumes(ctx context.Context, meta metav1.ObjectMeta, spec *corev1.PodSpec, scratch string) (map[string]volume, error) {
	out := map[string]volume{}
	for _, v := range spec.Volumes {
		dir := filepath.Join(scratch, "volumes", v.Name)
		files := map[string][]byte{}
		var err error
		switch {
		case v.PersistentVolumeClaim != nil:
			claim, ok := r.Claims[v.PersistentVolumeClaim.ClaimName]
			if !ok {
				return nil, fmt.Errorf("volume %s: no folder stands for claim %s", v.Name, v.PersistentVolumeClaim.ClaimName)
			}
			out[v.Name] = volume{dir: claim, readOnly: v.PersistentVolumeClaim.ReadOnly}
			continue
		case v.EmptyDir != nil, v.Ephemeral != nil:
		case v.ConfigMap != nil:
			err = r.configMapFiles(ctx, meta.Namespace, files, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional)
		case v.Secret != nil:
			err = r.secretFiles(ctx, meta.Namespace, files, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional)
		case v.DownwardAPI != nil:
			err = downwardFiles(meta, files, v.DownwardAPI.Items)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				switch {
				case err != nil:
				case src.ConfigMap != nil:
					err = r.configMapFiles(ctx, meta.Namespace, files, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
				case src.Secret != nil:
					err = r.secretFiles(ctx, meta.Namespace, files, src.Secret.Name, src.Secret.Items, src.Secret.Optional)
				case src.DownwardAPI != nil:
					err = downwardFiles(meta, files, src.DownwardAPI.Items)
				default:
					err = fmt.Errorf("only configMap, secret and downwardAPI sources can be mapped here")
				}
			}
		default:
			continue // left unmapped: a container that mounts it fails in mountScript
		}
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		for name, content := range files {
			if !filepath.IsLocal(name) {
				return nil, fmt.Errorf("volume %s: path %s is not inside the volume", v.Name, name)
			}
			file := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(file, content, 0o644); err != nil {
				return nil, err
			}
		}
		out[v.Name] = volume{dir: dir, readOnly: v.EmptyDir == nil && v.Ephemeral == nil}
	}
	return out, nil
}

func (r *Runner) configMapFiles(ctx context.Context, ns string, files map[string][]byte, name string, items []corev1.KeyToPath, optional *bool) error {
	cm, err := r.Kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("configMap %s: %v", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles(files, "configMap "+name, data, items, optional)
}

func (r *Runner) secretFiles(ctx context.Context, ns string, files map[string][]byte, name string, items []corev1.KeyToPath, optional *bool) error {
	s, err := r.Kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("secret %s: %v", name, err)
	}
	return keyFiles(files, "secret "+name, s.Data, items, optional)
}

// keyFiles adds data's keys to files: all of them, each named after its
// key, or only the items, each at its path.
func keyFiles(files map[string][]byte, what string, data map[string][]byte, items []corev1.KeyToPath, optional *bool) error {
	if len(items) == 0 {
		for k, v := range data {
			files[k] = v
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		switch {
		case ok:
			files[it.Path] = v
		case optional == nil || !*optional:
			return fmt.Errorf("%s has no key %s", what, it.Key)
		}
	}
	return nil
}

// downwardFiles adds the pod's fields that items name to files.
func downwardFiles(meta metav1.ObjectMeta, files map[string][]byte, items []corev1.DownwardAPIVolumeFile) error {
	for _, it := range items {
		if it.FieldRef == nil {
			return fmt.Errorf("downwardAPI %s: only a fieldRef can be mapped here", it.Path)
		}
		v, err := fieldValue(meta, it.FieldRef.FieldPath)
		if err != nil {
			return fmt.Errorf("downwardAPI %s: %v", it.Path, err)
		}
		files[it.Path] = []byte(v)
	}
	return nil
}

var fieldKey = regexp.MustCompile(`^metadata\.(labels|annotations)\['(.+)'\]$`)

// fieldValue is a pod field as the downward API gives it; whole label and
// annotation maps are lines key="value", sorted by key.
func fieldValue(meta metav1.ObjectMeta, fieldPath string) (string, error) {
	maps := map[string]map[string]string{"labels": meta.Labels, "annotations": meta.Annotations}
	switch fieldPath {
	case "metadata.name":
		return meta.Name, nil
	case "metadata.namespace":
		return meta.Namespace, nil
	case "metadata.uid":
		return string(meta.UID), nil
	case "metadata.labels", "metadata.annotations":
		m := maps[strings.TrimPrefix(fieldPath, "metadata.")]
		var lines []string
		for k, v := range m {
			lines = append(lines, fmt.Sprintf("%s=%q", k, v))
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n"), nil
	}
	if m := fieldKey.FindStringSubmatch(fieldPath); m != nil {
		return maps[m[1]][m[2]], nil
	}
	return "", fmt.Errorf("field %s cannot be mapped here", fieldPath)
}

func (r *Runner) runContainer(ctx context.Context, meta metav1.ObjectMeta, c *corev1.Container, volumes map[string]volume, scratch string) (Result, error) {
	env, err := r.env(ctx, meta, c)
	if err != nil {
		return Result{}, err
	}
	var argv []string
	switch {
	case c.Image == r.Image:
		if len(c.Command) > 0 {
			return Result{}, fmt.Errorf("image %s runs its entrypoint; a command %v cannot be mapped", c.Image, c.Command)
		}
		argv = append([]string{r.Binary}, c.Args...)
	case neo4j.IsImage(c.Image):
		img, err := neo4j.ParseImage(c.Image)
		if err != nil {
			return Result{}, err
		}
		if len(c.Command) == 0 {
			return Result{}, fmt.Errorf("image %s would start Neo4j itself, which cannot run here", c.Image)
		}
		argv = append(append([]string(nil), c.Command...), c.Args...)
		env = append(env, "PATH="+r.StandinDir+":/usr/local/bin:/usr/bin:/bin", "NEO4J_STANDIN_VERSION="+img.Version.String())
		env = append(env, r.StandinEnv...)
	default:
		return Result{}, fmt.Errorf("image %s cannot run here: only %s and Neo4j images can", c.Image, r.Image)
	}
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	env = append(env, r.Env...)
	argv = expand(argv, env)

	mounts, err := mountScript(c, volumes, env)
	if err != nil {
		return Result{}, err
	}
	// The termination message file: a file of its own bound at the
	// container's terminationMessagePath, as the kubelet does. A path that
	// does not exist on this machine gets an empty file there first, for
	// the bind mount to cover (on /dev, one stays behind).
	messageFile := filepath.Join(scratch, "termination", c.Name)
	if err := os.MkdirAll(filepath.Dir(messageFile), 0o755); err != nil {
		return Result{}, err
	}
	if err := os.WriteFile(messageFile, nil, 0o666); err != nil {
		return Result{}, err
	}
	messagePath := c.TerminationMessagePath
	if messagePath == "" {
		messagePath = corev1.TerminationMessagePathDefault
	}
	messagePath = path.Clean(messagePath)
	mounts += fmt.Sprintf("mkdir -p %s && { [ -e %s ] || : > %s; } && mount --bind %s %s\n",
		quote(path.Dir(messagePath)), quote(messagePath), quote(messagePath), quote(messageFile), quote(messagePath))
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// unshare gives the process its own mount namespace; the script mounts
	// the volumes there and execs the container's program.
	cmd := exec.CommandContext(ctx, "/usr/bin/unshare", append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-ec", mounts + `exec "$@"`, "sh"}, argv...)...)
	cmd.Env = env
	cmd.Dir = "/"
	var tail bytes.Buffer
	out := io.Writer(&tail)
	if r.Log != nil {
		fmt.Fprintf(r.Log, "--- %s/%s: %s\n", meta.Name, c.Name, strings.Join(argv, " "))
		out = io.MultiWriter(r.Log, &tail)
	}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	res := Result{Name: c.Name}
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		if !ok {
			return Result{}, err
		}
		res.ExitCode = exit.ExitCode()
	}
	message, err := os.ReadFile(messageFile)
	if err != nil {
		return Result{}, err
	}
	res.Message = string(message[:min(len(message), messageMax)])
	switch {
	case res.ExitCode != 0 && ctx.Err() != nil:
		res.Message = "timed out after " + timeout.String()
	case res.Message == "" && res.ExitCode != 0 && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError:
		res.Message = logTail(tail.String())
	}
	return res, nil
}

// mountScript bind-mounts each volume mount, parents first, read-only where
// the mount or the volume's kind says so. A mount of one file (a subPath
// naming a ConfigMap's key) is bound onto a file.
func mountScript(c *corev1.Container, volumes map[string]volume, env []string) (string, error) {
	mounts := append([]corev1.VolumeMount(nil), c.VolumeMounts...)
	sort.SliceStable(mounts, func(i, j int) bool {
		return len(path.Clean(mounts[i].MountPath)) < len(path.Clean(mounts[j].MountPath))
	})
	var b strings.Builder
	for _, m := range mounts {
		vol, ok := volumes[m.Name]
		if !ok {
			return "", fmt.Errorf("volume %s (mounted at %s) is of a kind that cannot be mapped here", m.Name, m.MountPath)
		}
		host := vol.dir
		sub := m.SubPath
		if m.SubPathExpr != "" {
			sub = expand([]string{m.SubPathExpr}, env)[0]
		}
		if sub != "" {
			host = filepath.Join(host, sub)
			if _, err := os.Stat(host); os.IsNotExist(err) {
				if err := os.MkdirAll(host, 0o755); err != nil {
					return "", err
				}
			}
		}
		target := path.Clean(m.MountPath)
		if info, err := os.Stat(host); err == nil && !info.IsDir() {
			fmt.Fprintf(&b, "mkdir -p %s && { [ -e %s ] || : > %s; } && mount --bind %s %s\n",
				quote(path.Dir(target)), quote(target), quote(target), quote(host), quote(target))
		} else {
			fmt.Fprintf(&b, "mkdir -p %s && mount --bind %s %s\n", quote(target), quote(host), quote(target))
		}
		if m.ReadOnly || vol.readOnly {
			fmt.Fprintf(&b, "mount -o remount,bind,ro %s\n", quote(target))
		}
	}
	return b.String(), nil
}

// env resolves the container's environment as the kubelet would.
func (r *Runner) env(ctx context.Context, meta metav1.ObjectMeta, c *corev1.Container) ([]string, error) {
	var env []string
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := r.Kube.CoreV1().ConfigMaps(meta.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("envFrom configMap %s: %v", from.ConfigMapRef.Name, err)
			}
			for k, v := range cm.Data {
				env = append(env, from.Prefix+k+"="+v)
			}
		case from.SecretRef != nil:
			s, err := r.Kube.CoreV1().Secrets(meta.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("envFrom secret %s: %v", from.SecretRef.Name, err)
			}
			for k, v := range s.Data {
				env = append(env, from.Prefix+k+"="+string(v))
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+expand([]string{e.Value}, env)[0])
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, err := r.Kube.CoreV1().Secrets(meta.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			optional := ref.Optional != nil && *ref.Optional
			switch {
			case err == nil && s.Data[ref.Key] != nil:
				env = append(env, e.Name+"="+string(s.Data[ref.Key]))
			case optional:
			case err != nil:
				return nil, fmt.Errorf("env %s: secret %s: %v", e.Name, ref.Name, err)
			default:
				return nil, fmt.Errorf("env %s: secret %s has no key %s", e.Name, ref.Name, ref.Key)
			}
		case e.ValueFrom.FieldRef != nil:
			// POD_NAME from metadata.name, as the official charts set it
			// for their subPathExpr.
			v, err := fieldValue(meta, e.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("env %s: %v", e.Name, err)
			}
			env = append(env, e.Name+"="+v)
		default:
			return nil, fmt.Errorf("env %s: this kind of valueFrom cannot be mapped here", e.Name)
		}
	}
	return env, nil
}

var reference = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand replaces $(VAR) with the variable's value, as Kubernetes does in
// command, args and env values; an unknown variable stays as written.
func expand(args []string, env []string) []string {
	vals := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = v
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = reference.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := vals[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		})
	}
	return out
}

func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// logTail is the end of a container's output that the kubelet takes for
// its termination message: the last 80 lines, of which at most 2 KiB.
func logTail(s string) string {
	lines := strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	s = strings.Join(lines[max(0, len(lines)-logMessageLines):], "")
	return s[max(0, len(s)-logMessageMax):]
}
