package neo4j

import (
	"os"
	"path"
	"strings"
	"testing"
	"testing/fstest"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// chartMember is what the container of a StatefulSet of a chart render in
// testdata/charts sees, as the kubelet would give it: the environment
// (env, envFrom ConfigMaps) and the files of its ConfigMap, projected and
// Secret volumes, laid out as the kubelet does (a hidden ..data folder
// beside the files); and the pod's labels.
func chartMember(t *testing.T, file, statefulSet string) (env []string, fsys fstest.MapFS, labels map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path.Join("..", "testdata", "charts", file))
	if err != nil {
		t.Fatal(err)
	}
	configMaps, secrets := map[string]map[string]string{}, map[string]map[string][]byte{}
	var sts *appsv1.StatefulSet
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var kind struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &kind); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		switch kind.Kind {
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
				t.Fatal(err)
			}
			configMaps[cm.Name] = cm.Data
		case "Secret":
			var s corev1.Secret
			if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
				t.Fatal(err)
			}
			secrets[s.Name] = s.Data
		case "StatefulSet":
			var s appsv1.StatefulSet
			if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
				t.Fatal(err)
			}
			if s.Name == statefulSet {
				sts = &s
			}
		}
	}
	if sts == nil {
		t.Fatalf("%s has no StatefulSet %s", file, statefulSet)
	}
	c := Container(&sts.Spec.Template.Spec)
	for _, from := range c.EnvFrom {
		for k, v := range configMaps[from.ConfigMapRef.Name] {
			env = append(env, from.Prefix+k+"="+v)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil:
			env = append(env, e.Name+"="+statefulSet+"-0")
		case e.ValueFrom.SecretKeyRef != nil:
			env = append(env, e.Name+"="+string(secrets[e.ValueFrom.SecretKeyRef.Name][e.ValueFrom.SecretKeyRef.Key]))
		}
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	fsys = fstest.MapFS{}
	put := func(dir string, files map[string][]byte) {
		for name, content := range files {
			p := strings.TrimPrefix(path.Join(dir, name), "/")
			fsys[p] = &fstest.MapFile{Data: content}
			fsys[strings.TrimPrefix(path.Join(dir, "..data", name), "/")] = &fstest.MapFile{Data: content}
		}
	}
	strs := func(m map[string]string) map[string][]byte {
		out := map[string][]byte{}
		for k, v := range m {
			out[k] = []byte(v)
		}
		return out
	}
	for _, m := range c.VolumeMounts {
		v := volumes[m.Name]
		switch {
		case v.ConfigMap != nil:
			put(m.MountPath, strs(configMaps[v.ConfigMap.Name]))
		case v.Secret != nil:
			put(m.MountPath, secrets[v.Secret.SecretName])
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				switch {
				case src.ConfigMap != nil:
					put(m.MountPath, strs(configMaps[src.ConfigMap.Name]))
				case src.Secret != nil:
					put(m.MountPath, secrets[src.Secret.Name])
				}
			}
		}
	}
	return env, fsys, sts.Spec.Template.Labels
}

// The members of the real charts, seen from inside their pods, with and
// without the hint their labels give.
func TestMemberRoleOfTheCharts(t *testing.T) {
	for _, tt := range []struct {
		name, file, statefulSet string
		v                       Version
		want                    Role
		why                     string // what decided, in part
	}{
		{"official 4.4 core: its config folder", "neo4j-cluster-core-4.4.31.yaml", "core-1", Version{4, 4, 31}, Core, "dbms.mode=CORE in /config/neo4j.conf/dbms.mode"},
		{"neo4j-contrib core: env from its ConfigMap", "neo4j-helm-4.4.10-causal-cluster.yaml", "my-neo4j-neo4j-core", Version{4, 4, 10}, Core, "the environment (NEO4J_dbms_mode)"},
		{"neo4j-contrib read replica: env from its ConfigMap", "neo4j-helm-4.4.10-causal-cluster.yaml", "my-neo4j-neo4j-replica", Version{4, 4, 10}, ReadReplica, "the environment (NEO4J_dbms_mode)"},
		{"official 5.x standalone", "neo4j-5.26.0-standalone.yaml", "my-neo4j", Version{5, 26, 0}, Standalone, "no cluster discovery setting"},
		{"official 5.x cluster server: its config folder", "neo4j-5.26.0-cluster-server-1.yaml", "server-1", Version{5, 26, 0}, Server, "dbms.cluster.discovery.resolver_type=K8S in /config/neo4j.conf/dbms.cluster.discovery.resolver_type"},
	} {
		env, fsys, labels := chartMember(t, tt.file, tt.statefulSet)
		c := ReadConfig(env, fsys)
		for _, hint := range []Role{"", RoleFromLabels(labels)} {
			got, why := MemberRole(tt.v, c, hint)
			if got != tt.want || !strings.Contains(why, tt.why) {
				t.Errorf("%s, hint %q: MemberRole = %q (%s), want %q (%s)", tt.name, hint, got, why, tt.want, tt.why)
			}
		}
		// Without its files or env, only the labels are left: they tell the
		// charts' members apart too.
		if got, _ := MemberRole(tt.v, ReadConfig(nil, nil), RoleFromLabels(labels)); got != tt.want {
			t.Errorf("%s: from its labels alone MemberRole = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMemberRole(t *testing.T) {
	v42, v44, v5, cal := Version{4, 2, 8}, Version{4, 4, 31}, Version{5, 26, 0}, Version{2025, 6, 0}
	file := func(p, content string) fstest.MapFS {
		return fstest.MapFS{strings.TrimPrefix(p, "/"): &fstest.MapFile{Data: []byte(content)}}
	}
	merge := func(fss ...fstest.MapFS) fstest.MapFS {
		out := fstest.MapFS{}
		for _, f := range fss {
			for k, v := range f {
				out[k] = v
			}
		}
		return out
	}
	for _, tt := range []struct {
		name string
		v    Version
		env  []string
		fsys fstest.MapFS
		hint Role
		want Role
	}{
		{"nothing at all", v44, nil, nil, "", Standalone},
		{"neo4j.conf of the image, mode in any case", v44, nil, file("/var/lib/neo4j/conf/neo4j.conf", "#dbms.mode=CORE\n dbms.mode = read_replica \n"), "", ReadReplica},
		{"neo4j.conf under NEO4J_HOME", v42, []string{"NEO4J_HOME=/opt/neo4j"}, file("/opt/neo4j/conf/neo4j.conf", "dbms.mode=CORE\n"), "", Core},
		{"a mounted /conf is what the image copies in", v44, nil, merge(file("/conf/neo4j.conf", "dbms.mode=CORE"), file("/var/lib/neo4j/conf/neo4j.conf", "dbms.mode=SINGLE")), "", Core},
		{"NEO4J_CONF wins over the image's", v44, []string{"NEO4J_CONF=/etc/neo4j"}, merge(file("/etc/neo4j/neo4j.conf", "dbms.mode=SINGLE"), file("/var/lib/neo4j/conf/neo4j.conf", "dbms.mode=CORE")), Core, Standalone},
		{"NEO4J_CONF that is not there", v44, []string{"NEO4J_CONF=/nowhere/"}, file("/var/lib/neo4j/conf/neo4j.conf", "dbms.mode=CORE"), "", Core},
		{"a config folder of one file per setting", v44, []string{"NEO4J_CONF=/config/"}, file("/config/neo4j.conf/dbms.mode", "READ_REPLICA\n"), "", ReadReplica},
		{"the environment beats the file", v44, []string{"NEO4J_dbms_mode=SINGLE"}, file("/var/lib/neo4j/conf/neo4j.conf", "dbms.mode=CORE"), Core, Standalone},
		{"an empty variable is no setting", v44, []string{"NEO4J_dbms_mode="}, file("/var/lib/neo4j/conf/neo4j.conf", "dbms.mode=CORE"), "", Core},
		{"the file beats the hint", v44, nil, file("/var/lib/neo4j/conf/neo4j.conf", "dbms.mode=SINGLE"), ReadReplica, Standalone},
		{"the hint when nothing says", v44, nil, nil, ReadReplica, ReadReplica},
		{"a mode Neo4j does not know leaves the hint", v44, []string{"NEO4J_dbms_mode=ARBITER"}, nil, Core, Core},
		{"a mode by command: a member", v44, nil, file("/var/lib/neo4j/conf/neo4j.conf", "dbms.mode=$(cat /etc/mode)"), "", Core},
		{"a mode by command and a read-replica hint", v44, []string{"NEO4J_dbms_mode=$(cat /etc/mode)"}, nil, ReadReplica, ReadReplica},
		{"a 5.x hint means nothing to 4.x", v44, nil, nil, Server, Standalone},
		{"5.x discovery endpoints in the environment", v5, []string{"NEO4J_dbms_cluster_discovery_endpoints=a:5000,b:5000"}, nil, "", Server},
		{"5.x v2 endpoints", v5, []string{"NEO4J_dbms_cluster_discovery_v2_endpoints=a:6000"}, nil, "", Server},
		{"5.x resolver by command in a file", v5, nil, file("/var/lib/neo4j/conf/neo4j.conf", "dbms.cluster.discovery.resolver_type=$(bash -c 'echo K8S')"), "", Server},
		{"5.x discovery type before 5.7", Version{5, 3, 0}, []string{"NEO4J_dbms_cluster_discovery_type=DNS"}, nil, "", Server},
		{"calendar endpoints", cal, []string{"NEO4J_dbms_cluster_endpoints=a:6000,b:6000"}, nil, "", Server},
		{"5.x the hint", cal, nil, nil, Server, Server},
		{"a 4.x mode means nothing to 5.x", v5, []string{"NEO4J_dbms_mode=CORE"}, nil, Core, Standalone},
		{"a variable of another setting", v5, []string{"NEO4J_dbms_cluster_minimum__initial__system__primaries__count=3"}, nil, "", Standalone},
	} {
		c := ReadConfig(tt.env, tt.fsys)
		if got, why := MemberRole(tt.v, c, tt.hint); got != tt.want {
			t.Errorf("%s: MemberRole = %q (%s), want %q", tt.name, got, why, tt.want)
		}
	}
}

func TestEnvName(t *testing.T) {
	for setting, env := range map[string]string{
		"dbms.mode":                            "NEO4J_dbms_mode",
		"dbms.cluster.discovery.resolver_type": "NEO4J_dbms_cluster_discovery_resolver__type",
		"dbms.cluster.discovery.v2.endpoints":  "NEO4J_dbms_cluster_discovery_v2_endpoints",
	} {
		if got := EnvName(setting); got != env {
			t.Errorf("EnvName(%s) = %s, want %s", setting, got, env)
		}
		if got, ok := settingOfEnv(env); !ok || got != setting {
			t.Errorf("settingOfEnv(%s) = %s, %v; want %s", env, got, ok, setting)
		}
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{"": "", "core": Core, "Read Replica": ReadReplica, "read_replica": ReadReplica, "SERVER": Server, "standalone": Standalone} {
		if got, err := ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, err := ParseRole("primary"); err == nil {
		t.Errorf("ParseRole(primary) = %q; want an error", got)
	}
}
