package control

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
)

// Lambda's limits on layers.
const (
	// MaxFunctionLayers is how many layers a function may use.
	MaxFunctionLayers     = 5
	MaxLayerNameLen       = 140
	MaxLayerVersionArnLen = 140
	MaxCompatibleRuntimes = 15
	MaxCompatibleArchs    = 2
	MaxLicenseInfoLen     = 512
	MaxLayerListItems     = 50
)

// The API model's patterns for layer names and ARNs, quoted in Lambda's messages.
const (
	layerNamePattern       = `(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+`
	layerVersionArnPattern = `arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+`
	functionLayersPattern  = `(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)`
)

var (
	layerARNRe        = regexp.MustCompile(`^arn:[a-zA-Z0-9-]+:lambda:([a-zA-Z0-9-]+):(\d{12}):layer:([a-zA-Z0-9-_]+)$`)
	layerVersionARNRe = regexp.MustCompile(`^arn:[a-zA-Z0-9-]+:lambda:([a-zA-Z0-9-]+):(\d{12}):layer:([a-zA-Z0-9-_]+):([0-9]+)$`)
)

// LayerARN is the ARN of the layer named name in this server's region and account.
func (c Config) LayerARN(name string) string {
	return "arn:aws:lambda:" + c.Region + ":" + c.AccountID + ":layer:" + name
}

// ParseLayerName turns a LayerName member (a name or a layer ARN) into the layer's bare name.
func (c Config) ParseLayerName(s string) (string, error) {
	if len(s) < 1 {
		return "", constraintError(s, "layerName", "Member must have length greater than or equal to 1")
	}
	if len(s) > MaxLayerNameLen {
		return "", constraintError(s, "layerName", "Member must have length less than or equal to 140")
	}
	if validBareName(s) {
		return s, nil
	}
	m := layerARNRe.FindStringSubmatch(s)
	if m == nil {
		return "", constraintError(s, "layerName", "Member must satisfy regular expression pattern: "+layerNamePattern)
	}
	if err := c.checkLayerOwner(m[1], m[2], s); err != nil {
		return "", err
	}
	return m[3], nil
}

// parseLayerVersionARN splits a layer version ARN of this server's region and account into the
// layer's name and version. ok is false when s does not match the model's pattern.
func (c Config) parseLayerVersionARN(s string) (name string, version int64, ok bool, err error) {
	m := layerVersionARNRe.FindStringSubmatch(s)
	if m == nil || len(s) > MaxLayerVersionArnLen {
		return "", 0, false, nil
	}
	version, perr := strconv.ParseInt(m[4], 10, 64)
	if perr != nil {
		return "", 0, false, nil
	}
	if err := c.checkLayerOwner(m[1], m[2], s); err != nil {
		return "", 0, true, err
	}
	return m[3], version, true, nil
}

// checkLayerOwner refuses layers of another region or account, which this server cannot reach.
func (c Config) checkLayerOwner(region, account, arn string) error {
	if account != c.AccountID {
		return lambdaerr.New(lambdaerr.AccessDenied, "User: arn:aws:iam::%s:root is not authorized to perform: "+
			"lambda:GetLayerVersion on resource: %s because no resource-based policy allows the lambda:GetLayerVersion action",
			c.AccountID, arn)
	}
	if region != c.Region {
		return lambdaerr.InvalidParameter("Layers are not in the same region as the function. Layers are expected to be in region %s.", c.Region)
	}
	return nil
}

// validateLayerVersionNumber checks a VersionNumber as Lambda does.
func validateLayerVersionNumber(v int64) error {
	if v < 1 {
		return lambdaerr.InvalidParameter("Layer Version Cannot be less than 1")
	}
	return nil
}

// lambdaRuntimes is the Runtime enum of the API model, which CompatibleRuntimes draws from.
var lambdaRuntimes = func() map[string]bool {
	m := map[string]bool{}
	for _, r := range strings.Split(runtimeEnum, ", ") {
		m[r] = true
	}
	return m
}()

// validateCompatible checks a PublishLayerVersion's CompatibleRuntimes and
// CompatibleArchitectures.
func validateCompatible(runtimes, archs []string) error {
	if len(runtimes) > MaxCompatibleRuntimes {
		return constraintError("["+strings.Join(runtimes, ", ")+"]", "compatibleRuntimes", "Member must have length less than or equal to 15")
	}
	for _, r := range runtimes {
		if !lambdaRuntimes[r] {
			return lambdaConstraintError("["+strings.Join(runtimes, ", ")+"]", "compatibleRuntimes",
				"Member must satisfy constraint: [Member must satisfy enum value set: ["+runtimeEnum+"]]")
		}
	}
	if len(archs) > MaxCompatibleArchs {
		return constraintError("["+strings.Join(archs, ", ")+"]", "compatibleArchitectures", "Member must have length less than or equal to 2")
	}
	for _, a := range archs {
		if a != ArchX8664 && a != ArchARM64 {
			return constraintError("["+strings.Join(archs, ", ")+"]", "compatibleArchitectures",
				"Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]")
		}
	}
	return nil
}

// ValidateLayerFilters checks ListLayers' and ListLayerVersions' CompatibleRuntime and
// CompatibleArchitecture filters.
func ValidateLayerFilters(runtime, arch string) error {
	if runtime != "" && !lambdaRuntimes[runtime] {
		return lambdaConstraintError(runtime, "compatibleRuntime", "Member must satisfy enum value set: ["+runtimeEnum+"]")
	}
	if arch != "" && arch != ArchX8664 && arch != ArchARM64 {
		return constraintError(arch, "compatibleArchitecture", "Member must satisfy enum value set: [x86_64, arm64]")
	}
	return nil
}

// validateLayerMeta checks PublishLayerVersion's Description and LicenseInfo.
func validateLayerMeta(in *PublishLayerVersionInput) error {
	if len(in.Description) > MaxDescriptionLen {
		return constraintError(in.Description, "description", "Member must have length less than or equal to 256")
	}
	if len(in.LicenseInfo) > MaxLicenseInfoLen {
		return constraintError(in.LicenseInfo, "licenseInfo", "Member must have length less than or equal to 512")
	}
	return validateCompatible(in.CompatibleRuntimes, in.CompatibleArchitectures)
}

// checkCodeAndLayersSize enforces Lambda's bound on a function's unzipped code plus layers.
func checkCodeAndLayersSize(code Code, layers []Code) error {
	total := code.UnzippedSize
	for _, l := range layers {
		total += l.UnzippedSize
	}
	if total > limits.MaxUnzippedSize {
		return lambdaerr.InvalidParameter("Function code combined with layers exceeds the maximum allowed size of %d bytes. "+
			"The actual size is %d bytes.", limits.MaxUnzippedSize, total)
	}
	return nil
}

// functionLayersError is Lambda's message for a Layers member an ARN of which breaks the model.
func functionLayersError(arns []string) error {
	return constraintError("["+strings.Join(arns, ", ")+"]", "layers",
		fmt.Sprintf("Member must satisfy constraint: [Member must have length less than or equal to %d, "+
			"Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: %s]",
			MaxLayerVersionArnLen, functionLayersPattern))
}
