package config

// MaxOpenFiles returns kzoo.max.open.files: the bound of the storage's descriptor cache,
// 0 meaning the storage's default (half the process's open-file limit).
func (v Values) MaxOpenFiles() int {
	return int(v.int64("kzoo.max.open.files"))
}
