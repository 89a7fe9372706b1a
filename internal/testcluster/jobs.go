package testcluster

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FinishJob gives job the status the Job controller writes when its pod
// succeeded (ok) or it failed for good at time at, for a test to write with
// UpdateStatus where no kubelet runs the pod.
func FinishJob(job *batchv1.Job, ok bool, at metav1.Time) {
	if job.Status.StartTime == nil {
		job.Status.StartTime = &at
	}
	if ok {
		job.Status.Succeeded, job.Status.CompletionTime = 1, &at
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: at},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: at}}
		return
	}
	job.Status.Failed = 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: at, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"},
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: at, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}
}
