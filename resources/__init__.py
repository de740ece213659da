"""ketamon's resources (protocols, stylesheets, sounds, icons, templates, alarm
defaults). Installed as the package ketamon.resources; read them through
ketamon.core.resources, never by a path relative to a source file."""
