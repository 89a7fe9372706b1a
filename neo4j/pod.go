package neo4j

import corev1 "k8s.io/api/core/v1"

// UID is the uid and gid of the neo4j user in Neo4j's images; the
// containers neo4j-backup adds run as it, so the files they write in Neo4j's
// volumes belong to Neo4j.
const UID = 7474

// Container picks the container of a pod spec that runs Neo4j: the one
// whose image is neo4j or neo4j-enterprise, else the one named neo4j; nil if
// there is none.
func Container(spec *corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if IsImage(spec.Containers[i].Image) {
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
