package main

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// pluginBinary is the name kubectl runs for `kubectl neo4j-backup …`: a
// plugin is an executable kubectl-<name> on PATH, dashes of the command
// written as underscores (README "Install", kubectl plugin; make install
// puts it there).
const pluginBinary = "kubectl-neo4j_backup"

// pluginCommand is how a user types the binary when kubectl runs it.
const pluginCommand = "kubectl neo4j-backup"

// asInvoked names the command tree after the name the binary was run by,
// argv0: as kubectl's plugin it says `kubectl neo4j-backup …` in its usage
// lines, examples and errors, and does everything else as neo4j-backup does.
func asInvoked(root *cobra.Command, argv0 string) {
	if strings.TrimSuffix(filepath.Base(argv0), ".exe") != pluginBinary {
		return
	}
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[cobra.CommandDisplayNameAnnotation] = pluginCommand
	var rename func(*cobra.Command)
	rename = func(c *cobra.Command) {
		c.Example = exampleCommand.ReplaceAllString(c.Example, "${1}"+pluginCommand+" ")
		for _, sub := range c.Commands() {
			rename(sub)
		}
	}
	rename(root)
}

// exampleCommand is a command line of an Example: neo4j-backup at the start
// of a line, after the indent.
var exampleCommand = regexp.MustCompile(`(?m)^(\s*)neo4j-backup `)
