package webhook

// This file decides how a Neo4j pod is mutated for a restore (README
// "Restore a StatefulSet"). It is pure: a pod and its Namespace's annotations in, JSON patch
// operations out. The patch appends with /- and never replaces an array.

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/containers"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/podrestore"
)

// Config is what the server was started with.
type Config struct {
	Image              string // this binary's image, run by the fetch container
	DefaultDestination string // s3://bucket/prefix, used when a Namespace names none
}

// InjectPod returns the patch that adds the restore init containers to pod,
// an annotated pod in a Namespace with annotations ns. A pod that already has
// them gets no patch. An error is a sentence to deny the pod with.
func InjectPod(pod *corev1.Pod, ns map[string]string, namespace string, cfg Config) ([]jsonpatch.Operation, error) {
	if hasInitContainer(pod, podrestore.FetchContainer) {
		return nil, nil
	}
	neo, err := findNeo4jContainer(pod)
	if err != nil {
		return nil, err
	}
	// The pod's labels name its deployment as its StatefulSet's do: the
	// charts label both, and CopyToTemplate copies the user's label.
	deployment, _ := annotations.DeploymentOf(statefulSetOf(pod), pod.Labels)
	settings, err := annotations.ReadRestore(pod.Annotations, ns, namespace, deployment, cfg.DefaultDestination)
	if err != nil {
		return nil, err
	}
	data, ok := mountAt(neo, podrestore.DataPath)
	if !ok {
		return nil, fmt.Errorf("container %s mounts no volume at %s, so there is nothing to restore into; mount the Neo4j data volume there", neo.Name, podrestore.DataPath)
	}

	var ops []jsonpatch.Operation
	plugins, ok := mountAt(neo, podrestore.PluginsPath)
	if !ok {
		plugins = corev1.VolumeMount{Name: podrestore.PluginsVolume, MountPath: podrestore.PluginsPath}
		ops = append(ops,
			appendOp("/spec/volumes", len(pod.Spec.Volumes), corev1.Volume{
				Name:         podrestore.PluginsVolume,
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
			}),
			appendOp(fmt.Sprintf("/spec/containers/%d/volumeMounts", containerIndex(pod, neo.Name)), len(neo.VolumeMounts), plugins),
		)
	}

	n := len(pod.Spec.InitContainers)
	ops = append(ops, appendOp("/spec/initContainers", n, fetchContainer(cfg.Image, settings, neo, data, plugins)))
	if settings.Mode == annotations.ModeRestore {
		ops = append(ops, appendOp("/spec/initContainers", n+1, restoreContainer(settings, neo, plugins)))
	}
	ops = append(ops, jsonpatch.Operation{Operation: "add", Path: "/metadata/annotations/" + escape(annotations.RestoreStatus), Value: "injected"})
	return ops, nil
}

// fetchContainer runs this image: it resolves the restore annotation against
// the backups in S3, streams the backup into /plugins, verifies it, and
// copies this binary there for the restore container. It sees the data
// volume read-only, to read the marker of an earlier restore.
func fetchContainer(image string, s annotations.RestoreSettings, neo *corev1.Container, data, plugins corev1.VolumeMount) corev1.Container {
	args := []string{"fetch",
		"--from", s.From.String(),
		"--at", s.At,
		"--to", podrestore.StagePath,
		"--skip-if-restored", podrestore.MarkerPath,
		"--install-self", podrestore.BinaryPath,
	}
	if s.Endpoint != "" {
		args = append(args, "--endpoint", s.Endpoint)
	}
	if s.Region != "" {
		args = append(args, "--region", s.Region)
	}
	data.ReadOnly = true
	data.MountPath = podrestore.DataPath
	plugins.ReadOnly = false
	plugins.MountPath = podrestore.PluginsPath
	c := corev1.Container{
		Name:                     podrestore.FetchContainer,
		Image:                    image,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		Args:                     args,
		Env:                      append(subPathEnv(neo, data, plugins), containers.CredentialsEnv(s.CredentialsSecret)...),
		VolumeMounts:             []corev1.VolumeMount{data, plugins},
		Resources:                *fetchResources.DeepCopy(),
		SecurityContext:          containers.SecurityContext(true),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	return c
}

// restoreContainer runs the pod's own Neo4j image, so neo4j-admin is the
// version the data belongs to, with the Neo4j container's environment and
// mounts so it reads the same configuration. Its program is the copy of this
// binary that the fetch container left in /plugins.
func restoreContainer(s annotations.RestoreSettings, neo *corev1.Container, plugins corev1.VolumeMount) corev1.Container {
	args := []string{"restore-staged", "--staged", podrestore.StagePath, "--data", podrestore.DataPath}
	if len(s.Databases) > 0 {
		args = append(args, "--databases", strings.Join(s.Databases, ","))
	}
	mounts := append([]corev1.VolumeMount(nil), neo.VolumeMounts...)
	if _, ok := mountAt(neo, podrestore.PluginsPath); !ok {
		mounts = append(mounts, plugins)
	}
	return corev1.Container{
		Name:                     podrestore.RestoreContainer,
		Image:                    neo.Image,
		ImagePullPolicy:          neo.ImagePullPolicy,
		Command:                  []string{podrestore.BinaryPath},
		Args:                     args,
		Env:                      neo.Env,
		EnvFrom:                  neo.EnvFrom,
		VolumeMounts:             mounts,
		Resources:                *restoreResources.DeepCopy(),
		SecurityContext:          containers.SecurityContext(false),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// Requests and limits of the injected containers: the fetch streams with a
// bounded buffer; neo4j-admin restore wants a heap.
var (
	fetchResources   = containers.Resources("100m", "128Mi", "1", "512Mi")
	restoreResources = containers.Resources("100m", "512Mi", "2", "2Gi")
)

var envReference = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// subPathEnv copies from the Neo4j container the env vars that the mounts'
// subPathExpr refer to, so the same subfolder is mounted; nothing else of its
// environment (it may hold the Neo4j password) reaches the fetch container.
func subPathEnv(neo *corev1.Container, mounts ...corev1.VolumeMount) []corev1.EnvVar {
	want := map[string]bool{}
	for _, m := range mounts {
		for _, ref := range envReference.FindAllStringSubmatch(m.SubPathExpr, -1) {
			want[ref[1]] = true
		}
	}
	var env []corev1.EnvVar
	for _, e := range neo.Env {
		if want[e.Name] {
			env = append(env, e)
		}
	}
	return env
}

func findNeo4jContainer(pod *corev1.Pod) (*corev1.Container, error) {
	if c := neo4j.Container(&pod.Spec); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("pod has %s but no Neo4j container (image neo4j or neo4j-enterprise, or a container named neo4j); name the Neo4j container neo4j or remove the annotation", annotations.Restore)
}

func statefulSetOf(pod *corev1.Pod) string {
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == "StatefulSet" && ref.Controller != nil && *ref.Controller {
			return ref.Name
		}
	}
	return ""
}

func mountAt(c *corev1.Container, mountPath string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == mountPath {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

func hasInitContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func containerIndex(pod *corev1.Pod, name string) int {
	for i, c := range pod.Spec.Containers {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// appendOp appends value to the array at arrayPath, which has n elements:
// with /- when it exists, or by creating it with value as its one element.
func appendOp(arrayPath string, n int, value any) jsonpatch.Operation {
	if n == 0 {
		return jsonpatch.Operation{Operation: "add", Path: arrayPath, Value: []any{value}}
	}
	return jsonpatch.Operation{Operation: "add", Path: arrayPath + "/-", Value: value}
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// escape makes a map key a JSON pointer token (RFC 6901).
func escape(key string) string { return pointerEscaper.Replace(key) }
