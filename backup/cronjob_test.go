package backup

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/internal/golden"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

const testImage = "ghcr.io/neo4j-backup/neo4j-backup:test"

// namespaceCase is one file under testdata/namespaces: a namespace, the
// StatefulSets in it, and optionally the server's settings.
type namespaceCase struct {
	Server *struct {
		DefaultDestination string `json:"defaultDestination"`
	} `json:"server"`
	Namespace    metav1.ObjectMeta    `json:"namespace"`
	StatefulSets []appsv1.StatefulSet `json:"statefulSets"`
}

// namespaceResult is what a case's .golden.yaml holds: the CronJob, or the
// Warning the namespace gets instead.
type namespaceResult struct {
	Warning *warning         `json:"warning,omitempty"`
	CronJob *batchv1.CronJob `json:"cronJob,omitempty"`
}

type warning struct {
	Reason      string `json:"reason"`
	Message     string `json:"message"`
	StatefulSet string `json:"statefulSet,omitempty"` // the Event's related object
}

// TestCronJobFixtures runs every case under testdata/namespaces through the
// decide step and the template, and compares the CronJob (or the Warning)
// with its golden file.
func TestCronJobFixtures(t *testing.T) {
	golden.Run(t, "testdata/namespaces/*.yaml", 15, func(t *testing.T, file string) {
		c := readNamespaceCase(t, file)
		cfg := Config{Image: testImage, DefaultDestination: "s3://cluster-default/neo4j"}
		if c.Server != nil {
			cfg.DefaultDestination = c.Server.DefaultDestination
		}
		var got namespaceResult
		s, err := readSettings(c.Namespace.Name, c.Namespace.Annotations, c.StatefulSets, cfg)
		if err != nil {
			p, ok := err.(*problem)
			if !ok {
				t.Fatalf("readSettings returned %v, want a *problem", err)
			}
			got.Warning = &warning{Reason: p.reason, Message: p.message}
			if p.statefulSet != nil {
				got.Warning.StatefulSet = p.statefulSet.Name
			}
			if strings.Contains(p.message, "AWS_") || strings.Contains(p.message, "s3-creds") {
				t.Errorf("the Warning names credentials: %s", p.message)
			}
		} else {
			got.CronJob = cronJob(s)
		}
		// The cache holds StatefulSets trimmed: they must decide the same.
		trimmed := make([]appsv1.StatefulSet, len(c.StatefulSets))
		for i := range c.StatefulSets {
			out, _ := trimStatefulSet(c.StatefulSets[i].DeepCopy())
			trimmed[i] = *out.(*appsv1.StatefulSet)
		}
		if s2, err2 := readSettings(c.Namespace.Name, c.Namespace.Annotations, trimmed, cfg); !reflect.DeepEqual(s2, s) || fmt.Sprint(err2) != fmt.Sprint(err) {
			t.Errorf("from trimmed StatefulSets readSettings says\n%+v, %v\nnot\n%+v, %v", s2, err2, s, err)
		}
		golden.Compare(t, golden.Path(file), got)
	})
}

func readNamespaceCase(t testing.TB, file string) namespaceCase {
	t.Helper()
	var c namespaceCase
	golden.ReadCase(t, file, &c)
	return c
}

// TestCronJobIsHardened checks what the restricted Pod Security Standard
// asks of every container, and explicit requests and limits, for each
// CronJob the fixtures make; the integration test has the API server admit
// one.
func TestCronJobIsHardened(t *testing.T) {
	for _, file := range []string{"v4-one-statefulset", "v5-one-statefulset"} {
		c := readNamespaceCase(t, "testdata/namespaces/"+file+".yaml")
		s, err := readSettings(c.Namespace.Name, c.Namespace.Annotations, c.StatefulSets, Config{Image: testImage, DefaultDestination: "s3://b-1/p"})
		if err != nil {
			t.Fatal(err)
		}
		pod := cronJob(s).Spec.JobTemplate.Spec.Template.Spec
		if pod.SecurityContext == nil || !*pod.SecurityContext.RunAsNonRoot || *pod.SecurityContext.FSGroup != neo4j.UID {
			t.Errorf("%s: pod securityContext %+v, want runAsNonRoot and fsGroup %d", file, pod.SecurityContext, neo4j.UID)
		}
		for _, ctr := range append(pod.InitContainers, pod.Containers...) {
			sc := ctr.SecurityContext
			if sc == nil || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
				*sc.RunAsUser != neo4j.UID || sc.SeccompProfile.Type != "RuntimeDefault" {
				t.Errorf("%s: container %s securityContext %+v is not hardened", file, ctr.Name, sc)
			}
			if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: container %s has no explicit requests and limits", file, ctr.Name)
			}
			if readOnly := *sc.ReadOnlyRootFilesystem; readOnly != (ctr.Name == UploadContainer) {
				t.Errorf("%s: container %s readOnlyRootFilesystem = %v", file, ctr.Name, readOnly)
			}
		}
	}
}

func TestInUseIDs(t *testing.T) {
	sts := func(meta, template string) appsv1.StatefulSet {
		var s appsv1.StatefulSet
		if meta != "" {
			s.Annotations = map[string]string{annotations.Restore: meta}
		}
		if template != "" {
			s.Spec.Template.Annotations = map[string]string{annotations.Restore: template}
		}
		return s
	}
	for _, tc := range []struct {
		name string
		sets []appsv1.StatefulSet
		want []string
	}{
		{"none", nil, []string{}},
		{"metadata and template, once", []appsv1.StatefulSet{sts("2021-11-11T10:00:00Z", "2021-11-11T10:00:00Z")}, []string{"2021-11-11T10:00:00Z"}},
		{"only on the template", []appsv1.StatefulSet{sts("", "2024-02-29T23:59:59Z")}, []string{"2024-02-29T23:59:59Z"}},
		{"sorted, across StatefulSets", []appsv1.StatefulSet{sts("2023-01-01T00:00:00Z", ""), sts("2021-11-11T10:00:00Z", "")}, []string{"2021-11-11T10:00:00Z", "2023-01-01T00:00:00Z"}},
		{"latest is no ID", []appsv1.StatefulSet{sts("latest", "latest")}, []string{}},
		{"a time with an offset is no ID", []appsv1.StatefulSet{sts("2021-11-11T10:00:00+01:00", "")}, []string{}},
		{"a time with fractions is no ID", []appsv1.StatefulSet{sts("2021-11-11T10:00:00.5Z", "")}, []string{}},
		{"a time without seconds is no ID", []appsv1.StatefulSet{sts("2021-11-11T10:00Z", "")}, []string{}},
		{"a legacy folder is no ID", []appsv1.StatefulSet{sts("11Nov2021-10:00:00", "")}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inUseIDs(tc.sets); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("inUseIDs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"--from=graph.ns.svc:6362": "--from=graph.ns.svc:6362",
		"--to-path=/backup/x":      "--to-path=/backup/x",
		"two words":                "'two words'",
		"it's":                     `'it'\''s'`,
		"$(reboot)":                "'$(reboot)'",
		"":                         "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
