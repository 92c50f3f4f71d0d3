//go:build race

package chash

const raceBuild = true
