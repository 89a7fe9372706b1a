package neo4j

import (
	"fmt"
	"path"
	"strings"
)

// Image is what an image reference says about the Neo4j in it.
type Image struct {
	// Repository is the last path element of the reference, without
	// registry, tag or digest: "docker.io/library/neo4j:5-enterprise" → "neo4j".
	Repository string
	Version    Version
	Enterprise bool
}

// splitReference cuts an image reference into its repository's last path
// element and its tag (empty when there is none); a digest is dropped.
func splitReference(ref string) (repository, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	repository, tag, _ = strings.Cut(path.Base(ref), ":")
	return repository, tag
}

// IsImage reports whether ref is one of Neo4j's images, neo4j or
// neo4j-enterprise, whatever its registry, tag or digest.
func IsImage(ref string) bool {
	repo, _ := splitReference(ref)
	return repo == "neo4j" || repo == "neo4j-enterprise"
}

// ParseImage reads the version and edition from a Neo4j image reference:
// neo4j:4.2.8-enterprise, neo4j-enterprise:5.26, neo4j:5.26 (Community).
// An image pinned only by digest says nothing: an error.
func ParseImage(ref string) (Image, error) {
	repo, tag := splitReference(ref)
	ref, _, _ = strings.Cut(ref, "@") // a digest says nothing a person reads
	if tag == "" || tag == "latest" {
		return Image{}, fmt.Errorf("image %s has no version tag; use a tag like neo4j:5.26-enterprise or set neo4j-backup.io/image", ref)
	}
	v, err := ParseVersion(tag)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %v", ref, err)
	}
	enterprise := repo == "neo4j-enterprise" || strings.Contains(tag, "enterprise")
	return Image{Repository: repo, Version: v, Enterprise: enterprise}, nil
}

// Community reports an official Neo4j Community image: repository neo4j, a
// version tag without "enterprise". An image whose edition cannot be told
// is not called Community.
func (img Image) Community() bool { return img.Repository == "neo4j" && !img.Enterprise }
