package neo4j

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The labels are those of the StatefulSets and pod templates Neo4j's charts
// render (the fixtures under backup/testdata/namespaces).
var (
	official5Server = map[string]string{"app": "my-cluster", LabelOfficialName: "my-cluster", LabelOfficialClustering: "true", "helm.neo4j.com/instance": "server-1"}
	official5Alone  = map[string]string{"app": "my-neo4j", LabelOfficialName: "my-neo4j", "helm.neo4j.com/instance": "my-neo4j"}
	official4Core   = map[string]string{"app": "my-cluster", LabelOfficialName: "my-cluster", LabelOfficialMode: "CORE", "helm.neo4j.com/instance": "core-1"}
	official4RR     = map[string]string{"app": "my-cluster", LabelOfficialName: "my-cluster", LabelOfficialMode: "READ_REPLICA"}
	contribCore     = map[string]string{"app.kubernetes.io/managed-by": "Helm", LabelInstance: "my-neo4j", LabelName: "neo4j", LabelComponent: "core"}
	contribReplica  = map[string]string{LabelInstance: "my-neo4j", LabelName: "neo4j", LabelComponent: "replica"}
)

func TestChartDeployment(t *testing.T) {
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"official 5.x cluster server", official5Server, "my-cluster"},
		{"official 4.4 core", official4Core, "my-cluster"},
		{"neo4j-contrib core", contribCore, "my-neo4j"},
		{"neo4j-contrib read replica", contribReplica, "my-neo4j"},
		{"an instance label of another app", map[string]string{LabelInstance: "shop", LabelName: "postgres"}, ""},
		{"no chart", map[string]string{"app": "graph"}, ""},
		{"no labels", nil, ""},
	} {
		got, by := ChartDeployment(tt.labels)
		if got != tt.want || (got == "") != (by == "") {
			t.Errorf("%s: ChartDeployment = %q by %q, want %q", tt.name, got, by, tt.want)
		}
	}
}

func TestRoleOf(t *testing.T) {
	v4, v5, cal := Version{4, 4, 31}, Version{5, 26, 0}, Version{2025, 6, 0}
	env := func(name, value string) *corev1.Container {
		return &corev1.Container{Name: "neo4j", Env: []corev1.EnvVar{{Name: name, Value: value}}}
	}
	fromConfigMap := &corev1.Container{Name: "neo4j", Env: []corev1.EnvVar{{Name: "NEO4J_dbms_mode", ValueFrom: &corev1.EnvVarSource{
		ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "mode"}}}}}
	for _, tt := range []struct {
		name   string
		v      Version
		labels map[string]string
		c      *corev1.Container
		want   Role
	}{
		{"official 4.4 core", v4, official4Core, nil, Core},
		{"official 4.4 read replica", v4, official4RR, nil, ReadReplica},
		{"official 4.4 standalone", v4, map[string]string{LabelOfficialName: "x", LabelOfficialMode: "SINGLE"}, nil, Standalone},
		{"contrib core", v4, contribCore, nil, Core},
		{"contrib read replica", v4, contribReplica, nil, ReadReplica},
		{"hand-made core by env", v4, nil, env("NEO4J_dbms_mode", "CORE"), Core},
		{"the env wins over the label", v4, contribCore, env("NEO4J_dbms_mode", "READ_REPLICA"), ReadReplica},
		{"an env from a ConfigMap says nothing", v4, nil, fromConfigMap, Standalone},
		{"4.x without a mode", v4, nil, &corev1.Container{}, Standalone},
		{"official 5.x cluster server", v5, official5Server, nil, Server},
		{"official 5.x standalone", v5, official5Alone, nil, Standalone},
		{"hand-made 5.x server by discovery", v5, nil, env("NEO4J_dbms_cluster_discovery_endpoints", "a:5000,b:5000"), Server},
		{"calendar server by resolver", cal, nil, env("NEO4J_dbms_cluster_discovery_resolver__type", "K8S"), Server},
		{"a 4.x mode means nothing to 5.x", v5, official4Core, nil, Standalone},
		{"calendar server by the endpoints of 2025.01 on", cal, nil, env("NEO4J_dbms_cluster_endpoints", "a:6000,b:6000"), Server},
		{"an env mode in any case", v4, nil, env("NEO4J_dbms_mode", "read_replica"), ReadReplica},
	} {
		if got := RoleOf(tt.v, tt.labels, tt.c); got != tt.want {
			t.Errorf("%s: RoleOf = %q, want %q", tt.name, got, tt.want)
		}
		// A trimmed copy of the StatefulSet keeps what RoleOf reads.
		if tt.c != nil {
			for _, e := range tt.c.Env {
				if !slices.Contains(DeploymentEnv, e.Name) {
					t.Errorf("%s: DeploymentEnv lacks %s, which RoleOf reads", tt.name, e.Name)
				}
			}
		}
	}
}

func TestAdminService(t *testing.T) {
	chartEnv := &corev1.Container{Env: []corev1.EnvVar{{Name: "SERVICE_NEO4J_ADMIN", Value: "server-1-admin.graph.svc.cluster.local"}}}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		c      *corev1.Container
		want   string
		ok     bool
	}{
		{"the chart's own address", official5Server, chartEnv, "server-1-admin.graph.svc.cluster.local:6362", true},
		{"an official chart without it", official5Server, &corev1.Container{}, "server-1-admin.graph.svc:6362", true},
		{"not the official chart", contribCore, &corev1.Container{}, "", false},
	} {
		got, ok := AdminService("graph", "server-1", tt.labels, tt.c)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: AdminService = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackupMemory(t *testing.T) {
	for _, tt := range []struct {
		limit           int64
		heap, pageCache string
	}{
		{2 << 30, "1024m", "512m"},
		{512 << 20, "256m", "128m"},
		{3*(1<<30) + 1, "1536m", "768m"},
	} {
		heap, pc := BackupMemory(tt.limit)
		if heap != tt.heap || pc != tt.pageCache {
			t.Errorf("BackupMemory(%d) = %s, %s; want %s, %s", tt.limit, heap, pc, tt.heap, tt.pageCache)
		}
	}
}
