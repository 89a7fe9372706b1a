package webhook

// This file decides how a Neo4j pod is mutated for a restore (README
// "Restore a StatefulSet"). It is pure: a pod and its Namespace's annotations in, JSON patch
// operations out. The patch appends with /- and never replaces an array,
// and never touches the Neo4j container: a volume mounted there at /plugins
// would become Neo4j's plugins directory and hide the plugins in its image.

import (
	"cmp"
	"fmt"
	"path"
	"regexp"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

	st := stageOf(neo)
	if err := checkFetchMode(settings.Mode, neo.Name, st); err != nil {
		return nil, err
	}

	var ops []jsonpatch.Operation
	if st.own {
		ops = append(ops, appendOp("/spec/volumes", len(pod.Spec.Volumes), stageVolume(settings)))
	}
	n := len(pod.Spec.InitContainers)
	ops = append(ops, appendOp("/spec/initContainers", n, fetchContainer(cfg.Image, settings, neo, data, st)))
	if settings.Mode == annotations.ModeRestore {
		ops = append(ops, appendOp("/spec/initContainers", n+1, restoreContainer(settings, neo, st, neo4j.RoleFromLabels(pod.Labels))))
	}
	ops = append(ops, jsonpatch.Operation{Operation: "add", Path: "/metadata/annotations/" + escape(annotations.RestoreStatus), Value: "injected"})
	return ops, nil
}

// stage is where the backup of a pod is staged: the Neo4j container's
// /plugins volume when it has one (the seed's way; a person finds a
// fetch-mode backup there), else a volume of our own that only the init
// containers mount.
type stage struct {
	podrestore.StagePaths
	mount corev1.VolumeMount // the init containers' mount of its volume
	own   bool               // the volume is podrestore.StageVolume, added by the webhook
}

func stageOf(neo *corev1.Container) stage {
	plugins, ok := mountAt(neo, podrestore.PluginsPath)
	st := stage{StagePaths: podrestore.StagePathsFor(ok), mount: plugins, own: !ok}
	if st.own {
		st.mount = corev1.VolumeMount{Name: podrestore.StageVolume}
	}
	st.mount.MountPath, st.mount.ReadOnly = st.MountPath, false
	return st
}

// checkFetchMode refuses restore-mode fetch for a Neo4j container (named
// container) without a /plugins mount: the backup would be staged in a
// volume only the init containers mount, out of everyone's reach.
func checkFetchMode(mode, container string, st stage) error {
	if mode != annotations.ModeFetch || !st.own {
		return nil
	}
	return fmt.Errorf("%s %s leaves the backup in %s, but container %s mounts nothing there; mount a volume at %s in the Neo4j container or set %s to %s",
		annotations.RestoreMode, annotations.ModeFetch, podrestore.PluginsPath, container, podrestore.PluginsPath, annotations.RestoreMode, annotations.ModeRestore)
}

// statefulSetProblems is what the validating webhook refuses in a
// StatefulSet besides its annotations, on its metadata or its pod template,
// because every pod of it would fail: restore-mode fetch for a Neo4j
// container without a /plugins mount, which InjectPod denies; and a restore
// of user databases into a 5.x or calendar-version cluster server, which
// the restore container refuses (README "Restore a cluster") — refused
// here, when it is written, no member has been stopped for it yet.
func statefulSetProblems(sts *appsv1.StatefulSet) []string {
	get := func(key string) string { return cmp.Or(sts.Annotations[key], sts.Spec.Template.Annotations[key]) }
	neo := neo4j.Container(&sts.Spec.Template.Spec)
	if neo == nil {
		return nil // InjectPod says what is wrong
	}
	mode := get(annotations.RestoreMode)
	if err := checkFetchMode(mode, neo.Name, stageOf(neo)); err != nil {
		return []string{err.Error()}
	}
	if get(annotations.Restore) == "" || mode == annotations.ModeFetch {
		return nil
	}
	img, err := neo4j.ParseImage(neo.Image)
	if err != nil || img.Version.Major == 4 {
		return nil // the restore container reads the version from neo4j-admin
	}
	if neo4j.RoleOf(img.Version, annotations.StatefulSetLabels(sts), neo) != neo4j.Server {
		return nil
	}
	if dbs := annotations.DatabaseList(get(annotations.RestoreDatabases)); len(dbs) == 1 && dbs[0] == "system" {
		return nil
	}
	return []string{fmt.Sprintf("%s: a Neo4j %s cluster server takes back only its system database offline; user databases are seeded once the cluster runs (README \"Restore a cluster\"): set %s: system",
		annotations.Restore, img.Version, annotations.RestoreDatabases)}
}

// stageVolume is the volume the backup is staged in when the Neo4j
// container mounts nothing at /plugins: an emptyDir, or with
// restore-volume-size a generic ephemeral volume of that size of the
// cluster's default storage class, for backups larger than the node's
// ephemeral storage.
func stageVolume(s annotations.RestoreSettings) corev1.Volume {
	if s.VolumeSize.IsZero() {
		return corev1.Volume{Name: podrestore.StageVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	}
	return corev1.Volume{Name: podrestore.StageVolume, VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
		VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
				"app.kubernetes.io/managed-by": "neo4j-backup",
				"app.kubernetes.io/name":       "neo4j-backup",
			}},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: s.VolumeSize.DeepCopy(),
				}},
			},
		},
	}}}
}

// fetchContainer runs this image: it resolves the restore annotation against
// the backups in S3, streams the backup into the stage, verifies it, and
// copies this binary there for the restore container. It sees the data
// volume read-only, to read the marker of an earlier restore.
func fetchContainer(image string, s annotations.RestoreSettings, neo *corev1.Container, data corev1.VolumeMount, st stage) corev1.Container {
	args := []string{"fetch",
		"--from", s.From.String(),
		"--at", s.At,
		"--to", st.Dir,
		"--skip-if-restored", podrestore.MarkerPath,
		"--install-self", st.Binary,
	}
	if s.Endpoint != "" {
		args = append(args, "--endpoint", s.Endpoint)
	}
	if s.Region != "" {
		args = append(args, "--region", s.Region)
	}
	data.ReadOnly = true
	data.MountPath = podrestore.DataPath
	c := corev1.Container{
		Name:                     podrestore.FetchContainer,
		Image:                    image,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		Args:                     args,
		Env:                      append(subPathEnv(neo, data, st.mount), containers.CredentialsEnv(s.CredentialsSecret)...),
		VolumeMounts:             []corev1.VolumeMount{data, st.mount},
		Resources:                *fetchResources.DeepCopy(),
		SecurityContext:          containers.SecurityContext(true),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	return c
}

// restoreContainer runs the pod's own Neo4j image, so neo4j-admin is the
// version the data belongs to, with the Neo4j container's environment and
// all its mounts (data, configuration) so it reads the same configuration;
// the stage is among them when it is the /plugins volume, else added. Its
// program is the copy of this binary that the fetch container left in the
// stage. role is what the pod's chart labels say it is, "" when they say
// nothing; restore-staged weighs it with the configuration.
func restoreContainer(s annotations.RestoreSettings, neo *corev1.Container, st stage, role neo4j.Role) corev1.Container {
	args := []string{"restore-staged", "--staged", st.Dir, "--data", podrestore.DataPath}
	if len(s.Databases) > 0 {
		args = append(args, "--databases", strings.Join(s.Databases, ","))
	}
	if role != "" {
		args = append(args, "--role", string(role))
	}
	mounts := append([]corev1.VolumeMount(nil), neo.VolumeMounts...)
	if st.own {
		mounts = append(mounts, st.mount)
	}
	resources := *restoreResources.DeepCopy()
	if !s.Memory.IsZero() {
		resources.Requests[corev1.ResourceMemory] = s.Memory.DeepCopy()
		resources.Limits[corev1.ResourceMemory] = s.Memory.DeepCopy()
	}
	return corev1.Container{
		Name:                     podrestore.RestoreContainer,
		Image:                    neo.Image,
		ImagePullPolicy:          neo.ImagePullPolicy,
		Command:                  []string{st.Binary},
		Args:                     args,
		Env:                      neo.Env,
		EnvFrom:                  neo.EnvFrom,
		VolumeMounts:             mounts,
		Resources:                resources,
		SecurityContext:          containers.SecurityContext(false),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// Requests and limits of the injected containers: the fetch streams with a
// bounded buffer; neo4j-admin restore wants a heap (restore-memory sets
// both its request and limit).
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
