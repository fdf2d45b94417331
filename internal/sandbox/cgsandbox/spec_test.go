package cgsandbox

import "testing"

func TestValidateHostDirsRefusesWhatWouldNotBeAHostDir(t *testing.T) {
	tests := []struct {
		name  string
		dirs  []string
		extra []string
		ok    bool
	}{
		{"the defaults are accepted", DefaultHostDirs, nil, true},
		{"a relative path is refused", []string{"usr"}, nil, false},
		{"a path that is not clean is refused", []string{"/usr/"}, nil, false},
		{"/ is refused", []string{"/"}, nil, false},
		{"a dir that shadows the sandbox's /etc is refused", []string{"/etc"}, nil, false},
		{"a dir that shadows /var/task is refused", []string{"/var/task"}, nil, false},
		{"a dir that shadows one of the backend's own is refused", []string{"/.ember"}, []string{"/.ember"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateHostDirs(tt.dirs, tt.extra...)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateHostDirs(%q) = %v", tt.dirs, err)
			}
		})
	}
}
