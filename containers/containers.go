// Package containers is how every container neo4j-backup adds to a pod —
// the restore init containers the webhook injects and the containers of the
// backup CronJob — is hardened, sized and given S3 credentials, so that all
// of them pass the restricted Pod Security Standard and no credential ever
// reaches one except as a secretKeyRef.
package containers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// SecurityContext is the hardening of every container this project adds:
// non-root as Neo4j's uid and gid, no privilege escalation, no capabilities,
// the runtime's seccomp profile. Containers of this image also get a
// read-only root filesystem; the Neo4j image's neo4j-admin writes to its
// home, so containers running it do not.
func SecurityContext(readOnlyRoot bool) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](neo4j.UID),
		RunAsGroup:               ptr.To[int64](neo4j.UID),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(readOnlyRoot),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// PodSecurityContext is the pod-level hardening of the pods this project
// makes itself: Neo4j's uid, gid and fsGroup, so neo4j-admin can write the
// volumes.
func PodSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](neo4j.UID),
		RunAsGroup:     ptr.To[int64](neo4j.UID),
		FSGroup:        ptr.To[int64](neo4j.UID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

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
