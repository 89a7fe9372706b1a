package storage

// Backup chains (README "Scheduled backups", its retention): on Neo4j 5.x
// and calendar versions a differential backup holds only the transactions
// since the backup before it, its parent; a chain is a full backup and the
// differential backups that build on it, one after another. A differential
// backup restores only with its whole chain, so retention keeps chains
// whole.

import (
	"fmt"
	"time"
)

// Backup types, as a manifest says them (Manifest.Type).
const (
	TypeFull         = "full"
	TypeDifferential = "differential"
)

// Artifact is what one 5.x backup artifact of a backup holds, as
// `neo4j-admin database backup --inspect-path` tells it: the database, full
// or differential, its transactions and when neo4j-admin took it. It holds
// the transactions committed up to Time; a differential one, those after
// its parent's.
type Artifact struct {
	Database  string    `json:"database"`
	Path      string    `json:"path"` // a file of the backup
	Full      bool      `json:"full"`
	LowestTx  int64     `json:"lowestTx"`
	HighestTx int64     `json:"highestTx"`
	Time      time.Time `json:"time"`
}

// differential tells whether the backup builds on a parent.
func (m *Manifest) differential() bool { return m.Type == TypeDifferential }

// checkChainFields refuses a manifest whose chain fields could not have been
// written by Upload: a type it does not know, a differential backup without
// an earlier parent, a full one with one, an artifact that is not one of
// its files or whose transactions run backwards.
func checkChainFields(m *Manifest, files map[string]bool) error {
	switch m.Type {
	case "", TypeFull:
		if m.Parent != "" {
			return fmt.Errorf("manifest.json names parent %q for a full backup", m.Parent)
		}
	case TypeDifferential:
		parent, err := ParseID(m.Parent)
		if err != nil {
			return fmt.Errorf("manifest.json of a differential backup names no parent backup ID (%q)", m.Parent)
		}
		if own, err := ParseID(m.BackupID); err == nil && !parent.Before(own) {
			return fmt.Errorf("manifest.json names parent %s, which is not older than the backup", m.Parent)
		}
	default:
		return fmt.Errorf("manifest.json has backup type %q; this neo4j-backup knows %q and %q, use a newer release", m.Type, TypeFull, TypeDifferential)
	}
	for _, a := range m.Artifacts {
		if !files[a.Path] {
			return fmt.Errorf("manifest.json lists artifact %q, which is not one of its files", a.Path)
		}
		if a.Database == "" || a.LowestTx < 0 || a.HighestTx < a.LowestTx {
			return fmt.Errorf("manifest.json has a bad database or transaction range for artifact %q", a.Path)
		}
	}
	return nil
}

// chain is the backups that restoring b takes, oldest (the full backup)
// first and b last, from byID (complete backups with their manifests). It
// fails, naming the missing link, when a parent is not there or not
// complete: such a backup cannot be restored.
func chain(byID map[string]Backup, b Backup) ([]Backup, error) {
	links := []Backup{b}
	for cur := b; cur.Manifest != nil && cur.Manifest.differential(); {
		parent, ok := byID[cur.Manifest.Parent]
		if !ok || parent.Status != Complete {
			return nil, fmt.Errorf("backup %s builds on backup %s, which is missing or incomplete", cur.ID, cur.Manifest.Parent)
		}
		if len(links) > len(byID) {
			return nil, fmt.Errorf("backup %s: its chain loops", b.ID) // decodeManifest keeps parents older; belt and braces
		}
		links = append(links, parent)
		cur = parent
	}
	for i, j := 0, len(links)-1; i < j; i, j = i+1, j-1 {
		links[i], links[j] = links[j], links[i]
	}
	return links, nil
}

// byID indexes backups by ID.
func byID(backups []Backup) map[string]Backup {
	m := make(map[string]Backup, len(backups))
	for _, b := range backups {
		m[b.ID] = b
	}
	return m
}

// Chain is the backups restoring b takes, oldest (the full backup) first
// and b last, from backups as List returns them (with their manifests).
func Chain(backups []Backup, b Backup) ([]Backup, error) { return chain(byID(backups), b) }
