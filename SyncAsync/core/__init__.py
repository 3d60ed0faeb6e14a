"""What both servers share: the weather client and its models, the routes' logic, the error format
and the header policy."""
