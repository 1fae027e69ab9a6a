"""The text front end: what a request's text asks for (`script`: pauses, tags), and how it is
cut into sentences (`sentences`) and into chunks a model says in one go (`chunks`)."""
