package control

import (
	"slices"
	"strconv"
	"time"
)

// Layer is one layer a function uses, as FunctionConfiguration lists it.
type Layer struct {
	Arn      string `json:"Arn"`
	CodeSize int64  `json:"CodeSize"`
}

// LayerVersionContentInput is the Content member of PublishLayerVersion. ZipFile is base64 in
// JSON, as encoding/json handles []byte.
type LayerVersionContentInput struct {
	ZipFile         []byte `json:"ZipFile,omitempty"`
	S3Bucket        string `json:"S3Bucket,omitempty"`
	S3Key           string `json:"S3Key,omitempty"`
	S3ObjectVersion string `json:"S3ObjectVersion,omitempty"`
}

// PublishLayerVersionInput is the body of PublishLayerVersion; LayerName comes from the path.
type PublishLayerVersionInput struct {
	LayerName               string                    `json:"-"`
	Description             string                    `json:"Description"`
	Content                 *LayerVersionContentInput `json:"Content"`
	CompatibleRuntimes      []string                  `json:"CompatibleRuntimes"`
	LicenseInfo             string                    `json:"LicenseInfo"`
	CompatibleArchitectures []string                  `json:"CompatibleArchitectures"`
}

// LayerVersionContentOutput is where a layer version's archive can be downloaded, and what it
// is. Location is filled in by the API, which signs it.
type LayerVersionContentOutput struct {
	Location   string `json:"Location,omitempty"`
	CodeSha256 string `json:"CodeSha256"`
	CodeSize   int64  `json:"CodeSize"`
}

// LayerVersionOutput is Lambda's GetLayerVersionResponse (and PublishLayerVersionResponse).
type LayerVersionOutput struct {
	Content                 *LayerVersionContentOutput `json:"Content"`
	LayerArn                string                     `json:"LayerArn"`
	LayerVersionArn         string                     `json:"LayerVersionArn"`
	Description             string                     `json:"Description"`
	CreatedDate             string                     `json:"CreatedDate"`
	Version                 int64                      `json:"Version"`
	CompatibleRuntimes      []string                   `json:"CompatibleRuntimes,omitempty"`
	LicenseInfo             string                     `json:"LicenseInfo,omitempty"`
	CompatibleArchitectures []string                   `json:"CompatibleArchitectures,omitempty"`
}

// LayerVersionsListItem is one version in ListLayerVersions and ListLayers.
type LayerVersionsListItem struct {
	LayerVersionArn         string   `json:"LayerVersionArn"`
	Version                 int64    `json:"Version"`
	Description             string   `json:"Description"`
	CreatedDate             string   `json:"CreatedDate"`
	CompatibleRuntimes      []string `json:"CompatibleRuntimes,omitempty"`
	LicenseInfo             string   `json:"LicenseInfo,omitempty"`
	CompatibleArchitectures []string `json:"CompatibleArchitectures,omitempty"`
}

// LayersListItem is one layer in ListLayers, with its newest version matching the filters.
type LayersListItem struct {
	LayerName             string                 `json:"LayerName"`
	LayerArn              string                 `json:"LayerArn"`
	LatestMatchingVersion *LayerVersionsListItem `json:"LatestMatchingVersion"`
}

// LayerVersion is one published version of a layer as the registry records it. A
// *LayerVersion returned by the registry is shared and must not be modified.
type LayerVersion struct {
	Name                    string    `json:"name"`
	Version                 int64     `json:"version"`
	LayerArn                string    `json:"layerArn"`
	Description             string    `json:"description,omitempty"`
	CompatibleRuntimes      []string  `json:"compatibleRuntimes,omitempty"`
	CompatibleArchitectures []string  `json:"compatibleArchitectures,omitempty"`
	LicenseInfo             string    `json:"licenseInfo,omitempty"`
	Created                 time.Time `json:"created"`
	// Code is the layer's archive as stored; Code.Manifest must never be sent to clients.
	Code Code `json:"code"`
	// Policy is the version's resource-based policy (AddLayerVersionPermission), and
	// PolicyRevision its RevisionId; stored and returned, not enforced.
	Policy         []PolicyStatement `json:"policy,omitempty"`
	PolicyRevision string            `json:"policyRevisionId,omitempty"`
}

// Arn is the layer version's ARN.
func (v *LayerVersion) Arn() string { return v.LayerArn + ":" + strconv.FormatInt(v.Version, 10) }

// Output is the version as GetLayerVersion returns it, without Content.Location.
func (v *LayerVersion) Output() *LayerVersionOutput {
	return &LayerVersionOutput{
		Content:                 &LayerVersionContentOutput{CodeSha256: v.Code.Sha256, CodeSize: v.Code.Size},
		LayerArn:                v.LayerArn,
		LayerVersionArn:         v.Arn(),
		Description:             v.Description,
		CreatedDate:             v.Created.UTC().Format(LastModifiedLayout),
		Version:                 v.Version,
		CompatibleRuntimes:      slices.Clone(v.CompatibleRuntimes),
		LicenseInfo:             v.LicenseInfo,
		CompatibleArchitectures: slices.Clone(v.CompatibleArchitectures),
	}
}

// ListItem is the version as ListLayerVersions lists it.
func (v *LayerVersion) ListItem() *LayerVersionsListItem {
	return &LayerVersionsListItem{
		LayerVersionArn:         v.Arn(),
		Version:                 v.Version,
		Description:             v.Description,
		CreatedDate:             v.Created.UTC().Format(LastModifiedLayout),
		CompatibleRuntimes:      slices.Clone(v.CompatibleRuntimes),
		LicenseInfo:             v.LicenseInfo,
		CompatibleArchitectures: slices.Clone(v.CompatibleArchitectures),
	}
}

// matches reports whether the version is compatible with runtime and arch ("" matches all).
func (v *LayerVersion) matches(runtime, arch string) bool {
	return (runtime == "" || slices.Contains(v.CompatibleRuntimes, runtime)) &&
		(arch == "" || slices.Contains(v.CompatibleArchitectures, arch))
}
