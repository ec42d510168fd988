"""The docs checked against the code they describe: settings, metrics, commands and links."""
