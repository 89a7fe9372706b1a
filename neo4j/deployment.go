package neo4j

// This file is what Neo4j's Helm charts and Neo4j's configuration say about
// a StatefulSet (or a pod of it): which DBMS it is part of, the part it
// plays there, and where its online backup is served. It reads labels and
// the Neo4j container's spec only; it asks nothing of the cluster.

import (
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// BackupPort is where Neo4j serves online backups unless configured
// otherwise (4.x dbms.backup.listen_address, 5.x and calendar versions
// server.backup.listen_address).
const BackupPort = "6362"

// Labels of Neo4j's official charts (neo4j/helm-charts): every StatefulSet
// and pod of a DBMS carries its name; a 4.4 member its dbms.mode; a 5.x
// cluster server clustering "true".
const (
	LabelOfficialName       = "helm.neo4j.com/neo4j.name"
	LabelOfficialMode       = "helm.neo4j.com/dbms.mode" // SINGLE, CORE, READ_REPLICA
	LabelOfficialClustering = "helm.neo4j.com/clustering"
)

// Labels of the neo4j-contrib chart (neo4j-contrib/neo4j-helm): a release's
// core StatefulSet and read-replica StatefulSet share the instance (the
// release); the name is neo4j, the component says which is which.
const (
	LabelInstance  = "app.kubernetes.io/instance"
	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component" // core, replica
)

// envAdminService is the official chart's address of its admin Service, in
// the Neo4j container's environment.
const envAdminService = "SERVICE_NEO4J_ADMIN"

// DeploymentEnv are the names of the Neo4j container's environment
// variables that ChartDeployment, RoleOf and AdminService read: whoever
// keeps a trimmed copy of a StatefulSet keeps these.
var DeploymentEnv = append([]string{envAdminService}, roleEnv()...)

// ChartDeployment names the DBMS that a StatefulSet or pod with these labels
// belongs to by the labels of the chart that made it: the official charts'
// neo4j.name, or the neo4j-contrib chart's instance (with name neo4j). by
// says which label grouped it; both are empty when no chart label does.
func ChartDeployment(labels map[string]string) (name, by string) {
	if v := labels[LabelOfficialName]; v != "" {
		return v, "label " + LabelOfficialName
	}
	if v := labels[LabelInstance]; v != "" && labels[LabelName] == "neo4j" {
		return v, "labels " + LabelInstance + " and " + LabelName + "=neo4j"
	}
	return "", ""
}

// Role is the part a member plays in its DBMS; it picks the backup source
// and the restore procedure (README "Restore a StatefulSet").
type Role string

const (
	Standalone  Role = "standalone"
	Core        Role = "core"         // 4.x causal cluster
	ReadReplica Role = "read replica" // 4.x causal cluster
	Server      Role = "server"       // 5.x and calendar versions: a cluster server
)

// RoleOf tells the role of a member running Neo4j v, from its labels and
// its Neo4j container c, as MemberRole does inside the pod but from the
// container's literal environment only (a StatefulSet's spec does not say
// what a ConfigMap or a config file holds): 4.x NEO4J_dbms_mode, 5.x and
// calendar versions the cluster discovery settings, else the chart labels
// (RoleFromLabels: the official 4.4 charts keep their mode in a config
// file), else standalone. A deployment of several 5.x servers is a cluster
// whatever each says alone: callers that see the whole deployment decide
// that.
func RoleOf(v Version, labels map[string]string, c *corev1.Container) Role {
	var env []string
	if c != nil {
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env = append(env, e.Name+"="+e.Value)
			}
		}
	}
	role, _ := MemberRole(v, ReadConfig(env, nil), RoleFromLabels(labels))
	return role
}

// RoleFromLabels is the role the chart labels of a pod give it, whatever
// its version: the official 4.4 charts' dbms.mode, the neo4j-contrib
// component, the official 5.x chart's clustering; "" when they say nothing.
// Inside the pod the restore container weighs it with the configuration
// Neo4j reads (README "Restore a StatefulSet"); the labels alone cannot
// tell a 4.4 core whose mode is only in a config file.
func RoleFromLabels(labels map[string]string) Role {
	switch strings.ToUpper(labels[LabelOfficialMode]) {
	case "CORE":
		return Core
	case "READ_REPLICA":
		return ReadReplica
	}
	if labels[LabelName] == "neo4j" {
		switch labels[LabelComponent] {
		case "core":
			return Core
		case "replica":
			return ReadReplica
		}
	}
	if labels[LabelOfficialClustering] == "true" {
		return Server
	}
	return ""
}

// AdminService is the backup address of a StatefulSet of the official
// charts: its admin Service, which the charts make for every release
// (<release>-admin, type ClusterIP, publishNotReadyAddresses, port 6362 when
// backup is enabled) and through which the Operations Manual says backups
// are taken (kubernetes/operations/backup-restore.adoc, "Neo4j uses the
// Admin Service"). The chart's governing Service (spec.serviceName) is a
// plain ClusterIP Service without port 6362, so neither it nor pod DNS
// names reach the backup port. The host is the chart's own
// SERVICE_NEO4J_ADMIN, which carries its cluster domain, else
// <statefulset>-admin.<namespace>.svc. ok is false for a StatefulSet the
// official charts did not make.
func AdminService(namespace, statefulSet string, labels map[string]string, c *corev1.Container) (addr string, ok bool) {
	host := literalEnv(c, envAdminService)
	if host == "" {
		if labels[LabelOfficialName] == "" {
			return "", false
		}
		host = statefulSet + "-admin." + namespace + ".svc"
	}
	return net.JoinHostPort(host, BackupPort), true
}

// literalEnv is the value of the container's env var name when the spec
// gives it literally; "" when it is unset or comes from elsewhere.
func literalEnv(c *corev1.Container, name string) string {
	if c == nil {
		return ""
	}
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value
		}
	}
	return ""
}
