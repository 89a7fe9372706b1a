package neo4j

// This file tells a member's role from inside its pod, where the restore
// container runs with the Neo4j container's environment and mounts (README
// "Restore a StatefulSet"): from the configuration Neo4j itself would read
// there, and else from the role the pod's chart labels give it.

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// settingMode is the 4.x setting that makes a member of a causal cluster:
// SINGLE, CORE or READ_REPLICA (4.x configuration-settings.adoc).
const settingMode = "dbms.mode"

// clusterSettings are the discovery settings of 5.x and calendar versions
// (configuration-settings.adoc, 5.x and dev) that only a cluster server
// sets: a standalone server needs none of them.
var clusterSettings = []string{
	"dbms.cluster.discovery.endpoints",     // 5.x, discovery v1
	"dbms.cluster.discovery.v2.endpoints",  // 5.22 to 5.26
	"dbms.cluster.endpoints",               // 2025.01 on, renamed from v2.endpoints
	"dbms.cluster.discovery.resolver_type", // LIST, DNS, SRV, K8S
	"dbms.cluster.discovery.type",          // its name before 5.7
}

// EnvName is the environment variable through which the Neo4j docker image
// sets setting: NEO4J_ and the name with "_" written "__" and "." written
// "_" (dbms.cluster.discovery.resolver_type is
// NEO4J_dbms_cluster_discovery_resolver__type).
func EnvName(setting string) string {
	return "NEO4J_" + strings.ReplaceAll(strings.ReplaceAll(setting, "_", "__"), ".", "_")
}

// settingOfEnv is the setting an environment variable sets, as the image's
// entrypoint maps it (every "_" becomes ".", then ".." becomes "_"); ok is
// false for a variable that is not a setting.
func settingOfEnv(name string) (setting string, ok bool) {
	rest, ok := strings.CutPrefix(name, "NEO4J_")
	if !ok || rest == "" {
		return "", false
	}
	return strings.ReplaceAll(strings.ReplaceAll(rest, "_", "."), "..", "_"), true
}

// Setting is one configuration value and where it was read.
type Setting struct {
	Value string
	// From says where: "the environment (NEO4J_dbms_mode)",
	// "/config/neo4j.conf/dbms.mode".
	From string
}

func (s Setting) String() string { return s.Value + " in " + s.From }

// commandExpansion reports a value written $(…): Neo4j runs it to get the
// value, so what it comes to is not known here; that it is set is.
func (s Setting) commandExpansion() bool { return strings.Contains(s.Value, "$(") }

// Config is the configuration a container of a Neo4j pod gives Neo4j: its
// environment, which the docker image turns into settings that win over the
// file, and the one neo4j.conf Neo4j reads.
type Config struct {
	env, file map[string]Setting
}

// ReadConfig reads the configuration of a container with environment env
// (NAME=value) and filesystem fsys, the container's / (nil: none). Neo4j
// reads $NEO4J_CONF/neo4j.conf; the image copies a mounted /conf into
// $NEO4J_HOME/conf, /var/lib/neo4j by default. The first of these that
// exists is read: a file of key=value lines, or, as the official charts
// mount it (NEO4J_CONF=/config/), a folder of one file per setting, named
// after it.
func ReadConfig(env []string, fsys fs.FS) Config {
	c := Config{env: map[string]Setting{}, file: map[string]Setting{}}
	vars := map[string]string{}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		vars[name] = value
		if s, ok := settingOfEnv(name); ok && strings.TrimSpace(value) != "" {
			c.env[s] = Setting{Value: strings.TrimSpace(value), From: "the environment (" + name + ")"}
		}
	}
	if fsys == nil {
		return c
	}
	var dirs []string
	if d := vars["NEO4J_CONF"]; d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, "/conf")
	if h := vars["NEO4J_HOME"]; h != "" {
		dirs = append(dirs, path.Join(h, "conf"))
	}
	dirs = append(dirs, "/var/lib/neo4j/conf")
	for _, d := range dirs {
		if settings, ok := readConf(fsys, path.Join(d, "neo4j.conf")); ok {
			c.file = settings
			break
		}
	}
	return c
}

// readConf reads neo4j.conf at the absolute path conf of fsys; ok is false
// when there is none.
func readConf(fsys fs.FS, conf string) (map[string]Setting, bool) {
	name := strings.TrimPrefix(path.Clean(conf), "/")
	if !path.IsAbs(conf) || !fs.ValidPath(name) {
		return nil, false
	}
	info, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, false
	}
	settings := map[string]Setting{}
	if !info.IsDir() {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, false
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			key, value, ok := strings.Cut(line, "=")
			if !ok || strings.HasPrefix(line, "#") {
				continue
			}
			// A later line wins, as in Neo4j.
			if key, value = strings.TrimSpace(key), strings.TrimSpace(value); key != "" && value != "" {
				settings[key] = Setting{Value: value, From: conf}
			}
		}
		return settings, true
	}
	entries, err := fs.ReadDir(fsys, name)
	if err != nil {
		return nil, false
	}
	for _, e := range entries {
		// A ConfigMap volume holds its files as links into a hidden
		// ..data folder: the links are the settings.
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(name, e.Name()))
		if err != nil { // a folder, or unreadable: not a setting
			continue
		}
		if value := strings.TrimSpace(string(b)); value != "" {
			settings[e.Name()] = Setting{Value: value, From: path.Join(conf, e.Name())}
		}
	}
	return settings, true
}

// Get is the value of setting: the environment's, else the file's.
func (c Config) Get(setting string) (Setting, bool) {
	if s, ok := c.env[setting]; ok {
		return s, true
	}
	s, ok := c.file[setting]
	return s, ok
}

// MemberRole is the role of the member running Neo4j v with configuration
// c; hint is the role the pod's chart labels give it (RoleFromLabels), ""
// when they say none. What Neo4j reads wins: the environment, then the
// config file, then the hint. 4.x: dbms.mode (CORE, READ_REPLICA, SINGLE,
// compared case-insensitively); 5.x and calendar versions: a server of a
// cluster when any discovery setting is set. A value written $(…) is set:
// for dbms.mode it makes a cluster member, a core unless the hint says read
// replica (both are restored alike). why says what decided, for the log.
func MemberRole(v Version, c Config, hint Role) (role Role, why string) {
	fromHint := "the pod's chart labels"
	if v.Major == 4 {
		if s, ok := c.Get(settingMode); ok {
			switch {
			case s.commandExpansion():
				role = Core
				if hint == ReadReplica {
					role = ReadReplica
				}
				return role, fmt.Sprintf("%s=%s: a command, so a cluster member", settingMode, s)
			case strings.EqualFold(s.Value, "CORE"):
				return Core, settingMode + "=" + s.String()
			case strings.EqualFold(s.Value, "READ_REPLICA"):
				return ReadReplica, settingMode + "=" + s.String()
			case strings.EqualFold(s.Value, "SINGLE"):
				return Standalone, settingMode + "=" + s.String()
			}
		}
		if hint == Core || hint == ReadReplica {
			return hint, fromHint
		}
		return Standalone, "no " + settingMode + " in the environment or neo4j.conf"
	}
	for _, name := range clusterSettings {
		if s, ok := c.Get(name); ok {
			return Server, name + "=" + s.String()
		}
	}
	if hint == Server {
		return Server, fromHint
	}
	return Standalone, "no cluster discovery setting in the environment or neo4j.conf"
}

// ParseRole reads a role as Role spells it, case-insensitively ("read
// replica", also with "_" or "-"); "" is no role.
func ParseRole(s string) (Role, error) {
	norm := strings.NewReplacer("_", " ", "-", " ").Replace(strings.ToLower(strings.TrimSpace(s)))
	for _, r := range []Role{"", Standalone, Core, ReadReplica, Server} {
		if norm == string(r) {
			return r, nil
		}
	}
	return "", fmt.Errorf("%q is not a role: give core, read replica, server or standalone, or nothing", s)
}

// roleEnv are the environment variables MemberRole reads.
func roleEnv() []string {
	names := []string{EnvName(settingMode)}
	for _, s := range clusterSettings {
		names = append(names, EnvName(s))
	}
	return names
}
