package podrunner

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// pod is the metadata of the pod the volumes belong to.
var pod = metav1.ObjectMeta{Name: "server-1-0", Namespace: "graph", UID: "0123",
	Labels: map[string]string{"app": "neo4j", "helm.neo4j.com/neo4j.name": "my-cluster"}}

// runner reads a ConfigMap and a Secret like the official chart's, from a
// fake API: the files are what is tested, not the client.
func runner() *Runner {
	return &Runner{Kube: fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "server-1-default-config", Namespace: "graph"},
			Data:       map[string]string{"server.default_listen_address": "0.0.0.0", "server.backup.enabled": "true"},
			BinaryData: map[string][]byte{"blob": {0, 1}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "server-1-user-config", Namespace: "graph"},
			Data: map[string]string{"server.backup.enabled": "false", "server.memory.heap.max_size": "1G"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "my-cluster-auth", Namespace: "graph"},
			Data: map[string][]byte{"NEO4J_AUTH": []byte("neo4j/secret")}},
	)}
}

// files lists what dir holds, path and content, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got = append(got, filepath.ToSlash(rel)+"="+string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	return got
}

func TestConfigVolumesHoldTheirFiles(t *testing.T) {
	cm := func(name string, items ...corev1.KeyToPath) *corev1.ConfigMapVolumeSource {
		return &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Items: items}
	}
	tests := []struct {
		name   string
		source corev1.VolumeSource
		want   []string
	}{
		{"a configMap: every key a file", corev1.VolumeSource{ConfigMap: cm("server-1-default-config")},
			[]string{"blob=\x00\x01", "server.backup.enabled=true", "server.default_listen_address=0.0.0.0"}},
		{"a configMap's items at their paths", corev1.VolumeSource{ConfigMap: cm("server-1-default-config",
			corev1.KeyToPath{Key: "server.backup.enabled", Path: "conf/backup"})},
			[]string{"conf/backup=true"}},
		{"an optional configMap that is missing", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "none"}, Optional: ptr.To(true)}}, nil},
		{"a secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "my-cluster-auth", DefaultMode: ptr.To[int32](0o400)}},
			[]string{"NEO4J_AUTH=neo4j/secret"}},
		{"projected, as the official chart's /config/neo4j.conf: later sources win", corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To[int32](288),
			Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "server-1-default-config"},
					Items: []corev1.KeyToPath{{Key: "server.backup.enabled", Path: "server.backup.enabled"}}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "server-1-user-config"}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "none"}, Optional: ptr.To(true)}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "my-cluster-auth"},
					Items: []corev1.KeyToPath{{Key: "NEO4J_AUTH", Path: "auth/neo4j"}, {Key: "none", Path: "none"}}, Optional: ptr.To(true)}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				}}},
			},
		}}, []string{"auth/neo4j=neo4j/secret", "labels=app=\"neo4j\"\nhelm.neo4j.com/neo4j.name=\"my-cluster\"", "name=server-1-0",
			"server.backup.enabled=false", "server.memory.heap.max_size=1G"}},
		{"downwardAPI", corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
			{Path: "cluster", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['helm.neo4j.com/neo4j.name']"}},
		}}}, []string{"cluster=my-cluster", "namespace=graph"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scratch := t.TempDir()
			spec := &corev1.PodSpec{Volumes: []corev1.Volume{{Name: "conf", VolumeSource: tt.source}}}
			volumes, err := runner().volumes(context.Background(), pod, spec, scratch)
			if err != nil {
				t.Fatal(err)
			}
			v, ok := volumes["conf"]
			if !ok || !v.readOnly || !strings.HasPrefix(v.dir, scratch) {
				t.Fatalf("volume = %+v, %v; want a read-only folder in the pod's scratch folder", v, ok)
			}
			if got := files(t, v.dir); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("the volume holds\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// What the kubelet would not start the pod with is an error, naming the volume.
func TestConfigVolumesThatCannotBeMade(t *testing.T) {
	tests := []struct {
		name   string
		source corev1.VolumeSource
		says   string
	}{
		{"a missing configMap", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "none"}}},
			`volume conf: configMap none: configmaps "none" not found`},
		{"a missing secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "none", Optional: ptr.To(false)}},
			`volume conf: secret none: secrets "none" not found`},
		{"a missing key", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "my-cluster-auth",
			Items: []corev1.KeyToPath{{Key: "password", Path: "password"}}}}, "secret my-cluster-auth has no key password"},
		{"a missing configMap in a projected volume", corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "none"}}},
		}}}, "configMap none"},
		{"a service account token", corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
		}}}, "only configMap, secret and downwardAPI sources"},
		{"a resource field", corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}},
		}}}, "only a fieldRef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &corev1.PodSpec{Volumes: []corev1.Volume{{Name: "conf", VolumeSource: tt.source}}}
			_, err := runner().volumes(context.Background(), pod, spec, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %v; want one saying %q", err, tt.says)
			}
		})
	}
}

// The official charts' POD_NAME comes from metadata.name and names the
// /logs sub-folder of the data claim.
func TestFieldRefsAndSubPathExpr(t *testing.T) {
	c := &corev1.Container{
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "data", MountPath: "/logs", SubPathExpr: "logs/$(POD_NAME)"},
			{Name: "conf", MountPath: "/config/server-logs.xml/server-logs.xml", SubPath: "server-logs.xml"},
		},
	}
	env, err := runner().env(context.Background(), pod, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(env, " "); got != "POD_NAME=server-1-0 NS=graph APP=neo4j" {
		t.Errorf("env = %s", got)
	}
	data, conf := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "server-logs.xml"), []byte("<Configuration/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := mountScript(c, map[string]volume{"data": {dir: data}, "conf": {dir: conf, readOnly: true}}, env)
	if err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(data, "logs", "server-1-0")
	want := "mkdir -p '/logs' && mount --bind '" + logs + "' '/logs'\n" +
		"mkdir -p '/config/server-logs.xml' && { [ -e '/config/server-logs.xml/server-logs.xml' ] || : > '/config/server-logs.xml/server-logs.xml'; }" +
		" && mount --bind '" + filepath.Join(conf, "server-logs.xml") + "' '/config/server-logs.xml/server-logs.xml'\n" +
		"mount -o remount,bind,ro '/config/server-logs.xml/server-logs.xml'\n"
	if script != want {
		t.Errorf("mount script\n%s\nwant\n%s", script, want)
	}
	if info, err := os.Stat(logs); err != nil || !info.IsDir() {
		t.Errorf("the sub-folder of the claim was not made: %v", err)
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}})
	if _, err := runner().env(context.Background(), pod, c); err == nil || !strings.Contains(err.Error(), "env IP: field status.podIP cannot be mapped here") {
		t.Errorf("error %v; want one naming env IP and its field", err)
	}
}
