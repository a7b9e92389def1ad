// Package examples embeds the example fleet repo, so that fleetgov serve
// --demo runs from any directory with no set-up.
package examples

import "embed"

// Fleet holds the example fleet repo under the directory "fleet".
//
//go:embed fleet
var Fleet embed.FS
