// Package layering has no code: its test holds the rules of who may import
// whom (ARCHITECTURE.md draws them), checked on the module's real import
// graph so that a change that breaks a layer fails `make test`.
package layering
