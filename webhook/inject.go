package webhook

// This file decides how a Neo4j pod is mutated for a restore (SPEC §4 steps
// 1–2). It is pure: a pod and its Namespace's annotations in, JSON patch
// operations out. The patch appends with /- and never replaces an array.

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// Names of what the webhook adds to a pod.
const (
	FetchContainer   = "neo4j-backup-fetch"
	RestoreContainer = "neo4j-backup-restore"
	PluginsVolume    = "neo4j-backup-plugins"

	DataPath    = "/data"
	PluginsPath = "/plugins"
	// StagePath is where the fetch container puts the backup and a copy of
	// this binary for the restore container.
	StagePath = PluginsPath + "/neo4j-backup"
	// BinaryPath is the copy of this binary the restore container runs.
	BinaryPath = StagePath + "/bin/neo4j-backup"
	// MarkerPath names the backup already restored into the data volume.
	MarkerPath = DataPath + "/.neo4j-backup/restored"

	// NeoUID is the uid and gid of the neo4j user in Neo4j's images.
	NeoUID = 7474
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
	if hasInitContainer(pod, FetchContainer) {
		return nil, nil
	}
	neo, err := findNeo4jContainer(pod)
	if err != nil {
		return nil, err
	}
	settings, err := ReadRestore(pod.Annotations, ns, namespace, statefulSetOf(pod), cfg.DefaultDestination)
	if err != nil {
		return nil, err
	}
	data, ok := mountAt(neo, DataPath)
	if !ok {
		return nil, fmt.Errorf("container %s mounts no volume at %s, so there is nothing to restore into; mount the Neo4j data volume there", neo.Name, DataPath)
	}

	var ops []jsonpatch.Operation
	plugins, ok := mountAt(neo, PluginsPath)
	if !ok {
		plugins = corev1.VolumeMount{Name: PluginsVolume, MountPath: PluginsPath}
		ops = append(ops,
			appendOp("/spec/volumes", len(pod.Spec.Volumes), corev1.Volume{
				Name:         PluginsVolume,
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
			}),
			appendOp(fmt.Sprintf("/spec/containers/%d/volumeMounts", containerIndex(pod, neo.Name)), len(neo.VolumeMounts), plugins),
		)
	}

	n := len(pod.Spec.InitContainers)
	ops = append(ops, appendOp("/spec/initContainers", n, fetchContainer(cfg.Image, settings, neo, data, plugins)))
	if settings.Mode == ModeRestore {
		ops = append(ops, appendOp("/spec/initContainers", n+1, restoreContainer(settings, neo, plugins)))
	}
	ops = append(ops, jsonpatch.Operation{Operation: "add", Path: "/metadata/annotations/" + escape(RestoreStatus), Value: "injected"})
	return ops, nil
}

// fetchContainer runs this image: it resolves the restore annotation against
// the backups in S3, streams the backup into /plugins, verifies it, and
// copies this binary there for the restore container. It sees the data
// volume read-only, to read the marker of an earlier restore.
func fetchContainer(image string, s RestoreSettings, neo *corev1.Container, data, plugins corev1.VolumeMount) corev1.Container {
	args := []string{"fetch",
		"--from", s.From.String(),
		"--at", s.At,
		"--to", StagePath,
		"--skip-if-restored", MarkerPath,
		"--install-self", BinaryPath,
	}
	if s.Endpoint != "" {
		args = append(args, "--endpoint", s.Endpoint)
	}
	if s.Region != "" {
		args = append(args, "--region", s.Region)
	}
	data.ReadOnly = true
	data.MountPath = DataPath
	plugins.ReadOnly = false
	plugins.MountPath = PluginsPath
	c := corev1.Container{
		Name:                     FetchContainer,
		Image:                    image,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		Args:                     args,
		Env:                      append(subPathEnv(neo, data, plugins), CredentialsEnv(s.CredentialsSecret)...),
		VolumeMounts:             []corev1.VolumeMount{data, plugins},
		Resources:                *fetchResources.DeepCopy(),
		SecurityContext:          SecurityContext(true),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	return c
}

// restoreContainer runs the pod's own Neo4j image, so neo4j-admin is the
// version the data belongs to, with the Neo4j container's environment and
// mounts so it reads the same configuration. Its program is the copy of this
// binary that the fetch container left in /plugins.
func restoreContainer(s RestoreSettings, neo *corev1.Container, plugins corev1.VolumeMount) corev1.Container {
	args := []string{"restore-staged", "--staged", StagePath, "--data", DataPath}
	if len(s.Databases) > 0 {
		args = append(args, "--databases", strings.Join(s.Databases, ","))
	}
	mounts := append([]corev1.VolumeMount(nil), neo.VolumeMounts...)
	if _, ok := mountAt(neo, PluginsPath); !ok {
		mounts = append(mounts, plugins)
	}
	return corev1.Container{
		Name:                     RestoreContainer,
		Image:                    neo.Image,
		ImagePullPolicy:          neo.ImagePullPolicy,
		Command:                  []string{BinaryPath},
		Args:                     args,
		Env:                      neo.Env,
		EnvFrom:                  neo.EnvFrom,
		VolumeMounts:             mounts,
		Resources:                *restoreResources.DeepCopy(),
		SecurityContext:          SecurityContext(false),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// SecurityContext is the hardening of every container this project adds
// (SPEC §8): non-root as Neo4j's uid and gid, no privilege escalation, no
// capabilities, the runtime's seccomp profile. Containers of this image also
// get a read-only root filesystem; the Neo4j image's neo4j-admin writes to
// its home, so the restore container does not.
func SecurityContext(readOnlyRoot bool) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](NeoUID),
		RunAsGroup:               ptr.To[int64](NeoUID),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(readOnlyRoot),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// Requests and limits of the injected containers: the fetch streams with a
// bounded buffer; neo4j-admin restore wants a heap.
var (
	fetchResources   = Resources("100m", "128Mi", "1", "512Mi")
	restoreResources = Resources("100m", "512Mi", "2", "2Gi")
)

// Resources is the requests and limits of a container this project adds.
func Resources(cpuRequest, memRequest, cpuLimit, memLimit string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpuRequest),
			corev1.ResourceMemory: resource.MustParse(memRequest),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpuLimit),
			corev1.ResourceMemory: resource.MustParse(memLimit),
		},
	}
}

// CredentialsEnv passes the S3 credentials as secretKeyRef env vars only;
// without a Secret the standard AWS chain (workload identity) applies.
func CredentialsEnv(secret string) []corev1.EnvVar {
	if secret == "" {
		return nil
	}
	ref := func(key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: key, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret},
			Key:                  key,
			Optional:             ptr.To(optional),
		}}}
	}
	return []corev1.EnvVar{
		ref("AWS_ACCESS_KEY_ID", false),
		ref("AWS_SECRET_ACCESS_KEY", false),
		ref("AWS_SESSION_TOKEN", true),
	}
}

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

// Neo4jContainer picks the container of a pod spec that runs Neo4j: the one
// whose image is neo4j or neo4j-enterprise, else the one named neo4j; nil if
// there is none. The backup reconciler finds Neo4j StatefulSets with it.
func Neo4jContainer(spec *corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if repo := imageName(spec.Containers[i].Image); repo == "neo4j" || repo == "neo4j-enterprise" {
			return &spec.Containers[i]
		}
	}
	for i := range spec.Containers {
		if spec.Containers[i].Name == "neo4j" {
			return &spec.Containers[i]
		}
	}
	return nil
}

func findNeo4jContainer(pod *corev1.Pod) (*corev1.Container, error) {
	if c := Neo4jContainer(&pod.Spec); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("pod has %s but no Neo4j container (image neo4j or neo4j-enterprise, or a container named neo4j); name the Neo4j container neo4j or remove the annotation", Restore)
}

// imageName is the last path element of an image reference, without
// registry, tag or digest: "docker.io/library/neo4j:5-enterprise" → "neo4j".
func imageName(image string) string {
	image, _, _ = strings.Cut(image, "@")
	name := path.Base(image)
	name, _, _ = strings.Cut(name, ":")
	return name
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
