print("pyflare")
