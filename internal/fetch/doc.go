// Package fetch is the ModelArts client: authentication (AK/SK signing, IAM
// token), one page of the list call, and walking every page.
package fetch
